"""Presets in the store: user preset versions (author, time, diffable, restorable, renamable, deletable), the
regime -> preset table. Every write is audited with the acting user (the stored plans: plan_store.py).

Deleting and renaming never rewrite history (planner_preset_versions rows are only ever added, see the model):
a delete appends a *deletion marker* version (base "", note "deleted by ..."), which hides the preset from
list_presets while its earlier versions, its audit events and the stored plans that name it stay readable. A
rename copies every version under the new name (numbers, authors and times kept, note "from 'old' vN") and marks
the old name deleted ("renamed to ..."). No schema change: the marker is a version row whose base is no preset."""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, bindparam, delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine import audit
from engine.planner.preset import (
    BUILT_IN_PRESETS,
    PlannerPreset,
    PresetError,
    check_preset_name,
    compose_preset,
    load_preset,
    refuse_fixed_targets,
)
from engine.planner.preset_schema import blank_char, mixed_scripts, name_skeletons, normal_name
from engine.store.db import Store
from engine.store.models import PlannerPresetVersion, PlannerRegimePreset

DEFAULT_PRESET = "default"
_LOCK_SPACE = 0x50524553  # "PRES": the first key of the per-preset PostgreSQL advisory locks (_lock_names)
DELETED_BASE = ""  # the base of a deletion marker version: never a preset (a save checks base is a built-in)


@dataclass(frozen=True)
class PresetVersion:
    name: str
    version: int
    author: str
    created_at: datetime
    base: str
    sliders: dict[str, float]
    overrides: dict[str, object]
    note: str = ""

    @property
    def deleted(self) -> bool:
        """A deletion marker (the preset was deleted or renamed at this version), not a preset."""
        return self.base == DELETED_BASE


def _version(row: PlannerPresetVersion) -> PresetVersion:
    return PresetVersion(row.name, row.version, row.author, row.created_at, row.base, dict(row.sliders),
                         dict(row.overrides), row.note)


def _compose(v: PresetVersion) -> PlannerPreset:
    return compose_preset(load_preset(v.base), v.sliders, v.overrides, name=v.name, stored=True)


def _newest_versions() -> Select:
    """The newest version of each user preset, by name."""
    newest = (select(PlannerPresetVersion.name, func.max(PlannerPresetVersion.version).label("v"))
              .group_by(PlannerPresetVersion.name).subquery())
    return (select(PlannerPresetVersion).join(
        newest, (PlannerPresetVersion.name == newest.c.name) & (PlannerPresetVersion.version == newest.c.v))
        .order_by(PlannerPresetVersion.name))


_NEWEST_VERSIONS = _newest_versions()  # built once: the planner and the execution step list presets every cycle


def list_presets(session: Session) -> dict[str, PlannerPreset]:
    """Built-ins, then the newest version of each user preset (a version that no longer validates is skipped)."""
    presets = {name: load_preset(name) for name in BUILT_IN_PRESETS}
    rows = session.scalars(_NEWEST_VERSIONS)
    for row in rows:
        if row.base == DELETED_BASE:  # deleted (or renamed away): its versions stay, the preset is gone
            continue
        try:
            presets[row.name] = _compose(_version(row))
        except PresetError:
            continue
    return presets


def preset_versions(session: Session, name: str) -> list[PresetVersion]:
    """Every version of user preset `name`, oldest first, deletion markers included (history is kept)."""
    rows = session.scalars(select(PlannerPresetVersion).where(PlannerPresetVersion.name == name)
                           .order_by(PlannerPresetVersion.version))
    return [_version(r) for r in rows]


def checked_name(name: object, verb: str = "save") -> str:
    """A new user preset name as saved (normal_name: NFKC, one space between words, stripped), or PresetError:
    check_preset_name's rules, then no blank-looking character, no Latin mixed with Cyrillic or Greek letters, and
    no look-alike of a built-in. Names stored before these rules keep working (save_user_preset)."""
    text = check_preset_name(name, verb)
    if (blank := blank_char(text)) is not None:
        raise PresetError(f"preset name {text!r}: character {blank[0]} (U+{ord(text[blank[0] - 1]):04X}) "
                          f"{blank[1]}; {verb} under a name of visible characters")
    if len(scripts := mixed_scripts(text)) > 1:
        raise PresetError(f"preset name {text!r} mixes {' and '.join(s.title() for s in scripts)} letters, which "
                          f"look alike; {verb} under a name in one alphabet")
    text = normal_name(text)
    for built_in in BUILT_IN_PRESETS:
        if name_skeletons(text) & name_skeletons(built_in):
            raise PresetError(f"'{text}' looks like the built-in preset '{built_in}'; {verb} under another name")
    return text


def _refuse_lookalike(session: Session, name: str, verb: str, but: str = "", typed: str = "") -> None:
    """PresetError when another live user preset (not `name` itself, nor `but`) has the same name_skeletons: two
    picker entries a trader cannot tell apart. Saving under the exact name adds a version."""
    keys = name_skeletons(name)
    for row in session.scalars(_NEWEST_VERSIONS):
        if row.base != DELETED_BASE and row.name not in (name, but) and name_skeletons(row.name) & keys:
            raise PresetError(f"'{typed or name}' reads the same as user preset '{row.name}'; {verb} under exactly "
                              f"'{row.name}' to add a version of it, or pick another name")


def _lock_names(session: Session, *names: str) -> None:
    """Serialise the writes of these presets' versions (max + 1 numbering, the look-alike check) on PostgreSQL: a
    transaction-scoped advisory lock per name skeleton, in sorted order. SQLite needs none: writes begin IMMEDIATE."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for name in sorted({audit.storable(k, len(k)) for n in names for k in name_skeletons(n)}):  # no NUL in SQL
        session.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(:name))"),
                        {"space": _LOCK_SPACE, "name": name})


def save_user_preset(store: Store, now: datetime, actor: str, name: str, base: str, sliders: Mapping[str, float],
                     overrides: Mapping[str, object], note: str = "") -> int:
    """Validate and store a new version of user preset `name`; returns its version number. Saving under the
    name of a deleted preset brings it back: numbering continues after its deletion marker. A live preset's exact
    name is kept as stored, even one the name rules (checked_name) now refuse; rename it to migrate it."""
    typed = name.strip() if isinstance(name, str) else ""
    if base not in BUILT_IN_PRESETS:
        raise PresetError(f"base preset '{base}' is not one of {', '.join(BUILT_IN_PRESETS)}")
    try:
        with store.write() as session:
            _lock_names(session, typed)
            existing = bool(typed) and typed == audit.storable(typed, len(typed)) and bool(_live_versions(session, typed))
            name = typed if existing else checked_name(name)
            preset = compose_preset(load_preset(base), sliders, overrides, name=name)  # PresetError naming the key
            if not existing:
                _refuse_lookalike(session, name, "save", typed=typed)
            version = _next_version(session, name)
            session.add(PlannerPresetVersion(name=name, version=version, created_at=now, author=actor, base=base,
                                             sliders={k: float(v) for k, v in sliders.items()},
                                             overrides=dict(overrides), note=note))
            audit.record(session, now, actor, "planner.save_preset", target=name,
                         details={"version": version, "base": base, "sliders": dict(preset.sliders),
                                  "overrides": dict(overrides)})
    except IntegrityError:  # not expected under the lock: say so instead of a traceback; nothing was stored
        raise PresetError(f"'{name}' was saved by someone else at the same moment; nothing was saved, "
                          "save again") from None
    return version


def restore_preset_version(store: Store, now: datetime, actor: str, name: str, version: int) -> int:
    """A new version equal to an old one (history is never rewritten); returns the new version number."""
    with store.read() as session:
        old = next((v for v in preset_versions(session, name) if v.version == version), None)
    if old is None:
        raise PresetError(f"user preset '{name}' has no version {version}")
    if old.deleted:
        raise PresetError(f"version {version} of '{name}' marks its deletion ({old.note}); pick an earlier version")
    return save_user_preset(store, now, actor, name, old.base, old.sliders, old.overrides,
                            note=f"restored from version {version}")


def _live_versions(session: Session, name: str) -> list[PlannerPresetVersion]:
    """The version rows of `name` if it is a user preset that exists now (its newest row is no deletion marker)."""
    rows = list(session.scalars(select(PlannerPresetVersion).where(PlannerPresetVersion.name == name)
                                .order_by(PlannerPresetVersion.version)))
    return rows if rows and rows[-1].base != DELETED_BASE else []


def _refuse_if_mapped(session: Session, name: str, verb: str) -> None:
    regimes = sorted(row.regime for row in session.scalars(
        select(PlannerRegimePreset).where(PlannerRegimePreset.preset == name)))
    if regimes:
        raise PresetError(f"cannot {verb} '{name}': the regime -> preset table maps regime(s) {', '.join(regimes)} "
                          f"to it; map them to another preset first")


def _next_version(session: Session, name: str) -> int:
    return int(session.scalar(select(func.coalesce(func.max(PlannerPresetVersion.version), 0))
                              .where(PlannerPresetVersion.name == name)) or 0) + 1


def _add_marker(session: Session, now: datetime, actor: str, name: str, note: str) -> int:
    version = _next_version(session, name)
    session.add(PlannerPresetVersion(name=name, version=version, created_at=now, author=actor, base=DELETED_BASE,
                                     sliders={}, overrides={}, note=note))
    return version


def delete_user_preset(store: Store, now: datetime, actor: str, name: str) -> int:
    """Soft-delete user preset `name` (audited): a deletion marker version hides it from list_presets; its
    versions, audit events and the stored plans naming it stay readable. Refused for a built-in, a preset that
    does not exist, and one the regime -> preset table maps a regime to (the message names the regimes).
    Returns the marker's version number."""
    name = (name or "").strip() if isinstance(name, str) else ""
    if name in BUILT_IN_PRESETS:
        raise PresetError(f"'{name}' is a built-in preset; it cannot be deleted")
    with store.write() as session:
        _lock_names(session, name)
        live = _live_versions(session, name)
        if not live:
            raise PresetError(f"there is no user preset '{name}' to delete")
        _refuse_if_mapped(session, name, "delete")
        marker = _add_marker(session, now, actor, name, f"deleted by {actor}")
        audit.record(session, now, actor, "planner.delete_preset", target=name,
                     details={"versions": len(live), "newest_version": live[-1].version, "marker_version": marker})
    return marker


def rename_user_preset(store: Store, now: datetime, actor: str, name: str, new_name: str) -> str:
    """Rename user preset `name` to `new_name` (audited), keeping history: every version is copied under the new
    name (version numbers, authors and times kept; a name that was deleted before continues after its marker)
    and the old name gets a deletion marker ("renamed to ..."), so its versions and the stored plans naming it
    stay readable. Refused: a built-in on either side, an invalid new name (the save's rules), a new name that
    exists, a preset that does not exist, and one the regime -> preset table maps a regime to. Returns the
    new name as stored (stripped)."""
    old = (name or "").strip() if isinstance(name, str) else ""
    if old in BUILT_IN_PRESETS:
        raise PresetError(f"'{old}' is a built-in preset; it cannot be renamed (save a user preset from it instead)")
    new = checked_name(new_name, "rename")
    if new == old:
        raise PresetError(f"'{old}' already has that name")
    with store.write() as session:
        _lock_names(session, old, new)
        live = _live_versions(session, old)
        if not live:
            raise PresetError(f"there is no user preset '{old}' to rename")
        if _live_versions(session, new):
            raise PresetError(f"a user preset named '{new}' already exists; pick another name or delete it first")
        _refuse_lookalike(session, new, "rename", but=old, typed=new_name.strip() if isinstance(new_name, str) else "")
        _refuse_if_mapped(session, old, "rename")
        offset = _next_version(session, new) - 1
        for row in live:
            session.add(PlannerPresetVersion(
                name=new, version=offset + row.version, created_at=row.created_at, author=row.author, base=row.base,
                sliders=dict(row.sliders), overrides=dict(row.overrides),
                note=(f"{row.note}; " if row.note else "") + f"from '{old}' v{row.version}"))
        marker = _add_marker(session, now, actor, old, f"renamed to '{new}' by {actor}")
        audit.record(session, now, actor, "planner.rename_preset", target=old,
                     details={"to": new, "versions": len(live), "first_new_version": offset + live[0].version,
                              "marker_version": marker})
    return new


def diff_presets(a: PlannerPreset, b: PlannerPreset) -> list[tuple[str, object, object]]:
    """(key, value in a, value in b) for every parameter or slider that differs."""
    fa, fb = a.to_flat(), b.to_flat()
    return [(k, fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)]


def regime_preset_table(session: Session, regimes: tuple[str, ...] = ()) -> dict[str, str]:
    """Regime name -> preset name; `regimes` (e.g. the active parameters' regimes) default to "default"."""
    table = {r: DEFAULT_PRESET for r in regimes}
    table.update({row.regime: row.preset for row in session.scalars(select(PlannerRegimePreset))})
    return dict(sorted(table.items()))


def set_regime_preset_table(store: Store, now: datetime, actor: str, mapping: Mapping[str, str],
                            regimes: Collection[str] | None = None) -> None:
    """Replace the table; every preset must exist (built-in or user) and every regime name be non-empty.

    `regimes` (the active parameters' regimes; the Planner page passes them): the mapping must then be the whole
    table, those regimes plus any the table holds already, since a replace drops every regime left out; an
    unknown or a missing regime is refused by name and nothing changes."""
    with store.write() as session:
        known = list_presets(session)
        before = {row.regime: row.preset for row in session.scalars(select(PlannerRegimePreset))}
        if regimes is not None:
            whole = set(regimes) | set(before)
            if unknown := sorted(str(r) for r in mapping if r not in whole):
                raise PresetError(f"regime -> preset table: '{unknown[0][:48]}' is not a regime of the active "
                                  "parameters; reload the page")
            if missing := sorted(whole - set(mapping)):
                raise PresetError(f"regime -> preset table: regime(s) {', '.join(missing)} missing; the whole table "
                                  "is saved at once, so reload the page and save again")
        for regime, preset in mapping.items():
            if not isinstance(regime, str) or not regime.strip() or len(regime) > 48:
                raise PresetError(f"regime -> preset table: regime name {regime!r} must be 1 to 48 characters")
            if preset not in known:
                raise PresetError(f"regime -> preset table: regime '{regime}': unknown preset '{preset}' "
                                  f"(presets: {', '.join(sorted(known))})")
            refuse_fixed_targets(f"regime -> preset table: regime '{regime}': preset '{preset}'", known[preset].params)
        session.execute(delete(PlannerRegimePreset))
        session.flush()
        for regime, preset in mapping.items():
            session.add(PlannerRegimePreset(regime=regime.strip(), preset=preset, updated_at=now, author=actor))
        audit.record(session, now, actor, "planner.set_regime_presets", target="regime_presets",
                     details={"from": before, "to": dict(mapping)})


_REGIME_ROW = select(PlannerRegimePreset).where(PlannerRegimePreset.regime == bindparam("regime"))


def regime_preset_row(session: Session, regime: str) -> PlannerRegimePreset | None:
    """`regime`'s row of the regime -> preset table, or None: what session.get answers, through a statement
    built once (the planner and the execution step read it every cycle; session.get builds one per call)."""
    return session.scalars(_REGIME_ROW, {"regime": regime}).first()


def preset_for_regime(session: Session, regime: str | None, hold: str | None = None) -> tuple[PlannerPreset, str]:
    """The preset in force in `regime` and why (a missing or broken preset falls back to default, said so);
    `hold` is why there is no regime (uncertain under CONSERVATIVE handling, engine.store.current_regime)."""
    presets = list_presets(session)
    row = regime_preset_row(session, regime) if regime else None
    if row is None:
        why = f"regime {regime}: no entry in the regime -> preset table, default applies" if regime \
            else f"{hold}; default applies" if hold else "no regime detected yet: default applies"
        return presets[DEFAULT_PRESET], why
    if row.preset not in presets:
        return presets[DEFAULT_PRESET], f"regime {regime}: preset '{row.preset}' is missing, default applies"
    return presets[row.preset], f"regime {regime} -> preset {row.preset} (set by {row.author})"
