"""Presets in the store: user preset versions (author, time, diffable, restorable), the regime -> preset
table and the stored plans. Every write is audited with the acting user."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, desc, func, select
from sqlalchemy.orm import Session

from engine import audit
from engine.planner.preset import BUILT_IN_PRESETS, PlannerPreset, PresetError, compose_preset, load_preset
from engine.planner.types import PlanResult
from engine.store.db import Store
from engine.store.models import PlannerPlan, PlannerPresetVersion, PlannerRegimePreset

DEFAULT_PRESET = "default"
MAX_NAME = 64


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


@dataclass(frozen=True)
class StoredPlan:
    id: int
    created_at: datetime
    origin: str
    preset: str
    sliders: dict[str, float]
    regime: str | None
    preset_reason: str
    param_version_id: int | None
    sequences_evaluated: int
    elapsed_ms: float
    steps: list[dict[str, object]]
    score: dict[str, float]
    executed: bool
    outcomes: list[dict[str, object]]


def _version(row: PlannerPresetVersion) -> PresetVersion:
    return PresetVersion(row.name, row.version, row.author, row.created_at, row.base, dict(row.sliders),
                         dict(row.overrides), row.note)


def _compose(v: PresetVersion) -> PlannerPreset:
    return compose_preset(load_preset(v.base), v.sliders, v.overrides, name=v.name)


def list_presets(session: Session) -> dict[str, PlannerPreset]:
    """Built-ins, then the newest version of each user preset (a version that no longer validates is skipped)."""
    presets = {name: load_preset(name) for name in BUILT_IN_PRESETS}
    newest = (select(PlannerPresetVersion.name, func.max(PlannerPresetVersion.version).label("v"))
              .group_by(PlannerPresetVersion.name).subquery())
    rows = session.scalars(select(PlannerPresetVersion).join(
        newest, (PlannerPresetVersion.name == newest.c.name) & (PlannerPresetVersion.version == newest.c.v))
        .order_by(PlannerPresetVersion.name))
    for row in rows:
        try:
            presets[row.name] = _compose(_version(row))
        except PresetError:
            continue
    return presets


def preset_versions(session: Session, name: str) -> list[PresetVersion]:
    rows = session.scalars(select(PlannerPresetVersion).where(PlannerPresetVersion.name == name)
                           .order_by(PlannerPresetVersion.version))
    return [_version(r) for r in rows]


def save_user_preset(store: Store, now: datetime, actor: str, name: str, base: str, sliders: Mapping[str, float],
                     overrides: Mapping[str, object], note: str = "") -> int:
    """Validate and store a new version of user preset `name`; returns its version number."""
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME:
        raise PresetError(f"a user preset needs a name of 1 to {MAX_NAME} characters")
    if name in BUILT_IN_PRESETS:
        raise PresetError(f"'{name}' is a built-in preset; save under another name")
    if base not in BUILT_IN_PRESETS:
        raise PresetError(f"base preset '{base}' is not one of {', '.join(BUILT_IN_PRESETS)}")
    preset = compose_preset(load_preset(base), sliders, overrides, name=name)  # raises PresetError naming the key
    with store.write() as session:
        version = int(session.scalar(select(func.coalesce(func.max(PlannerPresetVersion.version), 0))
                                     .where(PlannerPresetVersion.name == name)) or 0) + 1
        session.add(PlannerPresetVersion(name=name, version=version, created_at=now, author=actor, base=base,
                                         sliders={k: float(v) for k, v in sliders.items()}, overrides=dict(overrides),
                                         note=note))
        audit.record(session, now, actor, "planner.save_preset", target=name,
                     details={"version": version, "base": base, "sliders": dict(preset.sliders),
                              "overrides": dict(overrides)})
    return version


def restore_preset_version(store: Store, now: datetime, actor: str, name: str, version: int) -> int:
    """A new version equal to an old one (history is never rewritten); returns the new version number."""
    with store.read() as session:
        old = next((v for v in preset_versions(session, name) if v.version == version), None)
    if old is None:
        raise PresetError(f"user preset '{name}' has no version {version}")
    return save_user_preset(store, now, actor, name, old.base, old.sliders, old.overrides,
                            note=f"restored from version {version}")


def diff_presets(a: PlannerPreset, b: PlannerPreset) -> list[tuple[str, object, object]]:
    """(key, value in a, value in b) for every parameter or slider that differs."""
    fa, fb = a.to_flat(), b.to_flat()
    return [(k, fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)]


def regime_preset_table(session: Session, regimes: tuple[str, ...] = ()) -> dict[str, str]:
    """Regime name -> preset name; `regimes` (e.g. the active parameters' regimes) default to "default"."""
    table = {r: DEFAULT_PRESET for r in regimes}
    table.update({row.regime: row.preset for row in session.scalars(select(PlannerRegimePreset))})
    return dict(sorted(table.items()))


def set_regime_preset_table(store: Store, now: datetime, actor: str, mapping: Mapping[str, str]) -> None:
    """Replace the table; every preset must exist (built-in or user) and every regime name be non-empty."""
    with store.write() as session:
        known = set(list_presets(session))
        for regime, preset in mapping.items():
            if not isinstance(regime, str) or not regime.strip() or len(regime) > 48:
                raise PresetError(f"regime -> preset table: regime name {regime!r} must be 1 to 48 characters")
            if preset not in known:
                raise PresetError(f"regime -> preset table: regime '{regime}': unknown preset '{preset}' "
                                  f"(presets: {', '.join(sorted(known))})")
        before = {row.regime: row.preset for row in session.scalars(select(PlannerRegimePreset))}
        session.execute(delete(PlannerRegimePreset))
        session.flush()
        for regime, preset in mapping.items():
            session.add(PlannerRegimePreset(regime=regime.strip(), preset=preset, updated_at=now, author=actor))
        audit.record(session, now, actor, "planner.set_regime_presets", target="regime_presets",
                     details={"from": before, "to": dict(mapping)})


def preset_for_regime(session: Session, regime: str | None, hold: str | None = None) -> tuple[PlannerPreset, str]:
    """The preset in force in `regime` and why (a missing or broken preset falls back to default, said so);
    `hold` is why there is no regime (uncertain under CONSERVATIVE handling, engine.store.current_regime)."""
    presets = list_presets(session)
    row = session.get(PlannerRegimePreset, regime) if regime else None
    if row is None:
        why = f"regime {regime}: no entry in the regime -> preset table, default applies" if regime \
            else f"{hold}; default applies" if hold else "no regime detected yet: default applies"
        return presets[DEFAULT_PRESET], why
    if row.preset not in presets:
        return presets[DEFAULT_PRESET], f"regime {regime}: preset '{row.preset}' is missing, default applies"
    return presets[row.preset], f"regime {regime} -> preset {row.preset} (set by {row.author})"


def store_plan(session: Session, now: datetime, plan: PlanResult, origin: str, sliders: Mapping[str, float],
               param_version_id: int | None, executed: bool = False) -> PlannerPlan:
    row = PlannerPlan(
        created_at=now, origin=origin, preset=plan.preset, sliders=dict(sliders), regime=plan.regime,
        preset_reason=plan.preset_reason, param_version_id=param_version_id,
        sequences_evaluated=plan.sequences_evaluated, elapsed_ms=round(plan.elapsed_ms, 3),
        steps=[{"symbol": s.symbol, "side": s.side, "qty": s.qty, "price": s.price, "notional": round(s.notional, 2),
                "calculator": s.calculator, "pattern": s.pattern, "reason": s.reason, "cash_after": s.cash_after}
               for s in plan.steps],
        score={k: float(v) for k, v in plan.score.items()}, executed=executed, outcomes=[])
    session.add(row)
    session.flush()
    return row


def recent_plans(session: Session, limit: int = 20) -> list[StoredPlan]:
    rows = session.scalars(select(PlannerPlan).order_by(desc(PlannerPlan.id)).limit(max(1, min(limit, 500))))
    return [StoredPlan(r.id, r.created_at, r.origin, r.preset, dict(r.sliders), r.regime, r.preset_reason,
                       r.param_version_id, r.sequences_evaluated, r.elapsed_ms, list(r.steps), dict(r.score),
                       r.executed, list(r.outcomes)) for r in rows]
