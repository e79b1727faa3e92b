"""Planner presets: built-in TOML files in config/planner/ plus user presets, every knob a 0..1 slider.

`PresetKnobs.limits()` turns the sliders into concrete planning limits, so the UI only ever
deals with 0..1 values and out-of-range input is refused with the knob's name.
"""
from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from engine.settings import PROJECT_ROOT

PRESET_DIR = PROJECT_ROOT / "config" / "planner"
BUILT_IN = ("default", "conservative", "aggressive")


class PresetError(ValueError):
    """A preset is missing or a knob is outside 0..1."""


@dataclass(frozen=True)
class PlanLimits:
    gross_exposure: float  # target gross exposure as a fraction of equity
    fast_window: int
    slow_window: int
    rebalance_threshold: float  # fraction of equity a trade must move to be worth it
    max_weight: float  # per symbol, fraction of equity
    regime_sensitivity: float
    allow_short: bool


@dataclass(frozen=True)
class PresetKnobs:
    name: str
    description: str
    risk_appetite: float
    trend_following: float
    turnover: float
    concentration: float
    regime_sensitivity: float
    allow_short: float

    def __post_init__(self) -> None:
        for knob in KNOB_NAMES:
            value = getattr(self, knob)
            if not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
                raise PresetError(f"preset {self.name!r}: {knob} must be between 0 and 1, got {value!r}")

    def limits(self) -> PlanLimits:
        slow = int(round(30 + 210 * self.trend_following))
        return PlanLimits(
            gross_exposure=0.1 + 1.4 * self.risk_appetite,
            fast_window=max(5, slow // 4),
            slow_window=slow,
            rebalance_threshold=0.02 - 0.018 * self.turnover,
            max_weight=0.08 + 0.32 * self.concentration,
            regime_sensitivity=self.regime_sensitivity,
            allow_short=self.allow_short >= 0.5,
        )

    def with_knobs(self, **knobs: float) -> PresetKnobs:
        return PresetKnobs(**{**asdict(self), **knobs})


KNOB_NAMES = tuple(f.name for f in fields(PresetKnobs) if f.name not in ("name", "description"))


def load_preset_file(path: Path) -> PresetKnobs:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PresetError(f"{path.name}: cannot read the preset ({exc})") from exc
    if "sliders" in data:  # the modular planner's format: the old page's knobs derived from its sliders
        data = {**data, **legacy_knobs(data["sliders"])}
    missing = [k for k in KNOB_NAMES if k not in data]
    if missing:
        raise PresetError(f"{path.name}: missing knobs {', '.join(missing)}")
    return PresetKnobs(name=str(data.get("name", path.stem)), description=str(data.get("description", "")),
                       **{k: float(data[k]) for k in KNOB_NAMES})


def legacy_knobs(sliders: dict) -> dict[str, float]:
    """Old knobs from new sliders (kept until the new Planner page replaces the old one)."""
    return {"risk_appetite": sliders.get("risk_appetite", 0.5), "trend_following": sliders.get("hold_duration", 0.5),
            "turnover": 1 - sliders.get("hold_duration", 0.5), "concentration": 1 - sliders.get("position_spread", 0.5),
            "regime_sensitivity": sliders.get("regime_sensitivity", 0.5), "allow_short": 0.0}


def built_in_presets(directory: Path = PRESET_DIR) -> dict[str, PresetKnobs]:
    return {name: load_preset_file(directory / f"{name}.toml") for name in BUILT_IN}
