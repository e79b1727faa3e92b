"""Planner presets: TOML files validated against preset_schema.SPEC, plus sliders and overrides on top.

A preset file has optional `name`, `description`, a `[sliders]` table (0..1 positions, applied
through engine.planner.sliders) and any tables/keys of the schema; keys the file sets explicitly
win over its sliders. `[buckets.<name>]` tables (share, preset, symbols) split the portfolio.
Every error names the file, the key and the allowed range.
"""
from __future__ import annotations

import math
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from engine.planner.preset_schema import DEFAULTS, SPEC
from engine.planner.sliders import SLIDER_NAMES, apply_sliders
from engine.planner.values import whole
from engine.settings import PROJECT_ROOT

PRESET_DIR = PROJECT_ROOT / "config" / "planner"
BUILT_IN_PRESETS = ("default", "conservative", "aggressive")
MAX_NAME = 64
_INVISIBLE = {"Cc": "a control character", "Cf": "an invisible format character", "Zl": "a line break",
              "Zp": "a paragraph break"}


class PresetError(ValueError):
    """A preset cannot be used: the message names the file, the key and what is allowed."""


@dataclass(frozen=True)
class Bucket:
    name: str
    share: float  # of equity (and of cash)
    preset: str
    symbols: tuple[str, ...] = ()  # empty: the core bucket (every symbol no satellite claims)


@dataclass(frozen=True)
class PlannerPreset:
    name: str
    params: dict[str, object]  # "table.key" -> value, complete (DEFAULTS filled in)
    sliders: dict[str, float] = field(default_factory=dict)
    description: str = ""
    base: str = ""  # the preset this one was composed from ("" for a file)
    buckets: tuple[Bucket, ...] = ()

    def to_flat(self) -> dict[str, object]:
        """Every technical parameter plus the sliders as "sliders.x", for diffs and the UI."""
        flat: dict[str, object] = {f"sliders.{k}": v for k, v in self.sliders.items()}
        flat.update(self.params)
        for b in self.buckets:
            flat[f"buckets.{b.name}.share"], flat[f"buckets.{b.name}.preset"] = b.share, b.preset
        return flat

    def get(self, key: str) -> object:
        return self.params[key]

    def enabled(self, stage: str, module: str) -> bool:
        return bool(self.params.get(f"{stage}.{module}.enabled", False))


def fold_name(name: str) -> str:
    """The form two preset names are compared in: NFKC + casefold, so 'Default' and fullwidth 'ｄｅｆａｕｌｔ'
    are the same name to a trader reading the picker (the name itself is stored as typed)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


def check_preset_name(name: object, verb: str = "save") -> str:
    """A user preset's name (surrounding whitespace stripped); PresetError if it is empty, too long, holds an
    invisible or control character, or reads as a built-in's name."""
    text = name.strip() if isinstance(name, str) else ""
    if not text or len(text) > MAX_NAME:
        raise PresetError(f"a user preset needs a name of 1 to {MAX_NAME} characters")
    for i, char in enumerate(text):
        if (kind := _INVISIBLE.get(unicodedata.category(char))) is not None:
            raise PresetError(f"preset name {text[:MAX_NAME]!r}: character {i + 1} (U+{ord(char):04X}) is {kind}; "
                              f"{verb} under a name of visible characters")
    folded = fold_name(text)
    for built_in in BUILT_IN_PRESETS:
        if folded == fold_name(built_in):
            raise PresetError(f"'{text}' is a built-in preset" + ("" if text == built_in else f" ('{built_in}')")
                              + f"; {verb} under another name")
    return text


def _flatten(table: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in table.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, full + "."))
        else:
            out[full] = value
    return out


def check_value(where: str, key: str, value: object) -> object:
    """The value, converted to the key's type, or PresetError naming where, the key and the allowed range."""
    spec = SPEC.get(key)
    if spec is None:
        table = key.rsplit(".", 1)[0]
        known = sorted(k.rsplit(".", 1)[1] for k in SPEC if k.rsplit(".", 1)[0] == table)
        hint = f" (keys in [{table}]: {', '.join(known)})" if known else ""
        raise PresetError(f"{where}: unknown key '{key}'{hint}")
    ok = False
    lo = spec.lo if spec.lo is not None else -math.inf  # numeric keys always declare both bounds
    hi = spec.hi if spec.hi is not None else math.inf
    if spec.kind is bool:
        ok = isinstance(value, bool)
    elif spec.kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
    elif spec.kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and lo <= value <= hi:
            ok, value = True, float(value)
    else:
        ok = isinstance(value, str) and value in spec.choices
    if not ok:
        raise PresetError(f"{where}: key '{key}' = {value!r} is not allowed; allowed: {spec.allowed()}")
    return value


def parse_override(where: str, key: str, text: object) -> object:
    """One override typed as text (the Planner page's value box), read as a TOML value and checked by check_value:
    the page accepts exactly what a preset file would (NaN, text, a list where a number belongs: refused)."""
    spec = SPEC.get(key)
    if spec is None:
        return check_value(where, key, None)  # raises: unknown key, naming the keys of its table
    raw = text.strip() if isinstance(text, str) else ""
    if not raw or len(raw) > 64 or "\n" in raw or "\r" in raw:
        raise PresetError(f"{where}: key '{key}' needs one value; allowed: {spec.allowed()}")
    try:
        data = tomllib.loads(f"value = {raw}")
    except tomllib.TOMLDecodeError:
        raise PresetError(f"{where}: key '{key}' = {raw[:40]!r} is not a value; allowed: {spec.allowed()}") from None
    if set(data) != {"value"}:
        raise PresetError(f"{where}: key '{key}' needs one value; allowed: {spec.allowed()}")
    return check_value(where, key, data["value"])


def check_sliders(where: str, sliders: object) -> dict[str, float]:
    """Slider positions by name; PresetError (never AttributeError) when `sliders` is not a table of numbers."""
    if not isinstance(sliders, Mapping):
        raise PresetError(f"{where}: key 'sliders' = {repr(sliders)[:40]} must be a [sliders] table of "
                          f"name = 0..1 (sliders: {', '.join(SLIDER_NAMES)})")
    out = {}
    for name, value in sliders.items():
        if name not in SLIDER_NAMES:
            raise PresetError(f"{where}: unknown slider 'sliders.{name}' (sliders: {', '.join(SLIDER_NAMES)})")
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
            raise PresetError(f"{where}: key 'sliders.{name}' = {value!r} is not allowed; allowed: float from 0 to 1")
        out[name] = float(value)
    return out


def _buckets(where: str, table: object) -> tuple[Bucket, ...]:
    if not isinstance(table, dict):
        raise PresetError(f"{where}: key 'buckets' must be a table of [buckets.<name>] tables")
    out: list[Bucket] = []
    claimed: set[str] = set()
    for name, b in table.items():
        key = f"buckets.{name}"
        if not name.strip():
            raise PresetError(f"{where}: [buckets.\"{name}\"] needs a name")
        if not isinstance(b, dict) or set(b) - {"share", "preset", "symbols"}:
            raise PresetError(f"{where}: [{key}] allows only share, preset, symbols")
        share, preset, symbols = b.get("share"), b.get("preset", "default"), b.get("symbols", [])
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
            raise PresetError(f"{where}: key '{key}.share' = {share!r} is not allowed; allowed: float from 0 to 1")
        if preset not in BUILT_IN_PRESETS:
            raise PresetError(f"{where}: key '{key}.preset' = {preset!r}; allowed: {', '.join(BUILT_IN_PRESETS)}")
        if not isinstance(symbols, list) or not all(isinstance(s, str) and s for s in symbols):
            raise PresetError(f"{where}: key '{key}.symbols' must be a list of symbols")
        if claimed & {s.upper() for s in symbols}:
            raise PresetError(f"{where}: key '{key}.symbols': a symbol belongs to one bucket only")
        claimed |= {s.upper() for s in symbols}
        out.append(Bucket(name, float(share), str(preset), tuple(s.upper() for s in symbols)))
    if sum(b.share for b in out) > 1.0 + 1e-9:
        raise PresetError(f"{where}: key 'buckets.*.share' sums to {sum(b.share for b in out):g}; allowed: at most 1")
    if sum(1 for b in out if not b.symbols) > 1:
        raise PresetError(f"{where}: key 'buckets': only one bucket (the core) may leave 'symbols' empty")
    return tuple(out)


def parse_preset(text: str, where: str, default_name: str) -> PlannerPreset:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{where}: invalid TOML ({exc})") from None
    name = data.pop("name", default_name)
    description = data.pop("description", "")
    if not isinstance(name, str) or not name.strip() or not isinstance(description, str):
        raise PresetError(f"{where}: key 'name'/'description' must be text")
    sliders = check_sliders(where, data.pop("sliders", {}))
    buckets = _buckets(where, data.pop("buckets")) if "buckets" in data else ()
    explicit = {key: check_value(where, key, value) for key, value in _flatten(data).items()}
    params = {**apply_sliders({**DEFAULTS, **explicit}, sliders), **explicit}  # the file's floors (min_depth) too
    _check_windows(where, params)
    return PlannerPreset(name=name.strip(), params=params, sliders=sliders, description=description, buckets=buckets)


def _check_windows(where: str, params: Mapping[str, object]) -> None:
    fast, slow = whole(params, "calculators.trend.fast_window"), whole(params, "calculators.trend.slow_window")
    if fast >= slow:
        raise PresetError(f"{where}: key 'calculators.trend.fast_window' = {fast} must be below slow_window = {slow}")


def load_preset(name_or_path: str | Path) -> PlannerPreset:
    """A built-in preset by name, or a preset TOML file by path; validated."""
    text_name = str(name_or_path)
    path = PRESET_DIR / f"{text_name}.toml" if text_name in BUILT_IN_PRESETS else Path(text_name)
    if text_name not in BUILT_IN_PRESETS and path.suffix != ".toml":
        raise PresetError(f"unknown preset '{text_name}': use one of {', '.join(BUILT_IN_PRESETS)} or a .toml file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PresetError(f"{path}: cannot read the preset file ({exc.strerror or exc})") from None
    parsed = _parsed(text, path.name, path.stem)  # the jobs list the presets every cycle: parse each text once
    return replace(parsed, params=dict(parsed.params), sliders=dict(parsed.sliders))  # callers get their own dicts


@lru_cache(maxsize=64)
def _parsed(text: str, where: str, default_name: str) -> PlannerPreset:
    return parse_preset(text, where, default_name)


def refuse_fixed_targets(where: str, params: Mapping[str, object]) -> None:
    """PresetError when targets.method is "fixed": only the command line's --targets supplies fixed weights;
    anywhere else every target would be 0% and the plan would sell every holding."""
    if params.get("targets.method") == "fixed":
        methods = ", ".join(m for m in SPEC["targets.method"].choices if m != "fixed")
        raise PresetError(f"{where}: key 'targets.method' = 'fixed' needs fixed target weights, which only the "
                          f"command line's --targets FILE.csv supplies; use one of {methods}")


def compose_preset(base: PlannerPreset, sliders: Mapping[str, float], overrides: Mapping[str, object],
                   name: str | None = None, *, stored: bool = False) -> PlannerPreset:
    """base + slider positions (moving their mapped parameters) + "table.key" overrides, validated.

    targets.method "fixed" is refused (no fixed targets outside the command line) unless `stored`: a version
    saved before that rule is still read, and planning with it is refused by engine.planner.targets."""
    where = f"preset '{name or base.name}'"
    checked = check_sliders(where, sliders)
    if not isinstance(overrides, Mapping):
        raise PresetError(f"{where}: the overrides must be a table of \"table.key\" = value")
    fixed = {key: check_value(where, key, value) for key, value in overrides.items()}
    params = {**apply_sliders(base.params, checked), **fixed}
    _check_windows(where, params)
    if not stored:
        refuse_fixed_targets(where, params)
    return replace(base, name=name or base.name, params=params, sliders={**base.sliders, **checked}, base=base.name)
