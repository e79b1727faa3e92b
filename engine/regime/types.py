"""Records the regime engine produces: one ModuleResult per indicator, one RegimeOutput per cycle.

They are self-describing on purpose: the Regime page and the snapshot table read them without
knowing how the engine computed them (names, colours, classes and units travel with the numbers).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

# Scales used by every module (documented once, relied on by weighting and the UI):
#   score: direction in [-1, 1]; +1 = fully bullish evidence, -1 = fully bearish, 0 = none.
#   vol:   annualised volatility estimate (0.20 = 20 %/year), or None when the module has none.
SCORE_SCALE = "direction in [-1, 1] (+1 bullish, -1 bearish)"
VOL_SCALE = "annualised volatility (0.20 = 20%/year)"


class RegimeError(Exception):
    """A regime-engine problem a trader can act on (message says what, where and what to do)."""


class ModuleResult(NamedTuple):
    """One indicator module's reading at one bar (an immutable tuple: cheap to build every bar)."""

    name: str
    score: float = 0.0
    vol: float | None = None
    active: bool = True
    reason_if_inactive: str = ""
    diagnostics: dict[str, Any] = {}  # noqa: RUF012 - never mutated; modules always pass their own dict

    @staticmethod
    def inactive(name: str, reason: str, **diagnostics: Any) -> ModuleResult:
        return ModuleResult(name, 0.0, None, False, reason, dict(diagnostics))


class ModuleContribution(NamedTuple):
    """A module's score with the weight it actually received this cycle (0 when inactive)."""

    name: str
    column: str  # snake-case name used in records (OutputFormat style, e.g. atr_indicators)
    score: float
    weight: float
    active: bool
    reason_if_inactive: str
    vol: float | None
    diagnostics: dict[str, Any]

    @property
    def contribution(self) -> float:
        return self.score * self.weight


@dataclass(frozen=True, slots=True)
class RegimeOutput:
    """Everything one classification cycle decided, and why."""

    ts: datetime
    symbol: str
    regime_id: int  # -1 while warming up
    regime_name: str
    color: str
    confidence: float
    raw_score: float  # weighted module direction in [-1, 1]
    trend_component: float  # slope units of the RegimeClassification trend thresholds (log-price per longest-timeframe bar)
    trend_class: str
    trend_class_code: int
    volatility_component: float  # annualised volatility, units of the volatility thresholds
    volatility_class: str
    volatility_class_code: int
    adx: float
    modules: tuple[ModuleContribution, ...]
    time_in_regime_minutes: float
    transition: bool
    transition_rule: str | None  # id of the TransitionRules row (or INITIAL / EMERGENCY) that allowed it
    candidate_regime_id: int  # what formation proposed this bar, before stability and transition rules
    blocked_by: str  # why the candidate was not adopted ("" when adopted or same regime)
    persistence: float
    noise_level: float
    consensus_score: float
    transition_probability: float
    stability_level: str
    checks_passed: tuple[str, ...]
    low_confidence: bool
    time_slot: str
    sensitivity: float
    param_version: str
    warmup: bool = False
    extras: dict[str, float] = field(default_factory=dict)  # spot, pivots, atm_straddle, greeks ...
    # How this bar's own trend/volatility classes were decided (class_decision records; {} while warming up).
    # They may differ from the adopted regime's classes while the stability rules hold that regime.
    classes: dict[str, Any] = field(default_factory=dict)
    noise_threshold: float = float("nan")  # NoiseFilter.thresholds: the (adaptive) maximum acceptable noise_level

    @property
    def bar_trend_class(self) -> str:
        return str(self.classes.get("trend", {}).get("class", self.trend_class))

    @property
    def bar_volatility_class(self) -> str:
        return str(self.classes.get("volatility", {}).get("class", self.volatility_class))

    @property
    def active_modules(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.modules if m.active)

    def module_details(self) -> list[dict[str, Any]]:
        """JSON-ready per-module details (for the snapshot table's JSON column)."""
        return [
            {"name": m.name, "column": m.column, "score": _num(m.score), "weight": _num(m.weight),
             "contribution": _num(m.contribution), "active": m.active, "reason": m.reason_if_inactive,
             "vol": _num(m.vol), "diagnostics": {k: _jsonable(v) for k, v in m.diagnostics.items()}}
            for m in self.modules
        ]

    def to_snapshot(self) -> dict[str, Any]:
        """One regime_snapshots row: the scalar fields plus ``modules`` (JSON-ready per-module details)."""
        return {
            "ts": self.ts, "symbol": self.symbol, "regime_id": self.regime_id, "regime_name": self.regime_name,
            "color": self.color, "confidence": _num(self.confidence), "raw_score": _num(self.raw_score),
            "trend_component": _num(self.trend_component), "trend_class": self.trend_class,
            "volatility_component": _num(self.volatility_component), "volatility_class": self.volatility_class,
            "adx": _num(self.adx), "time_in_regime_minutes": self.time_in_regime_minutes,
            "transition": self.transition, "transition_rule": self.transition_rule,
            "candidate_regime_id": self.candidate_regime_id, "blocked_by": self.blocked_by,
            "stability_level": self.stability_level, "low_confidence": self.low_confidence,
            "active_modules": list(self.active_modules), "param_version": self.param_version,
            "warmup": self.warmup, "modules": self.module_details(), "classes": self.classes,
            "extras": {k: _num(v) for k, v in self.extras.items()},
        }

    def to_record(self, columns: tuple[str, ...] | None = None) -> dict[str, Any]:
        """Flat record: the OutputFormat columns that apply (in the given order) plus the extras."""
        full: dict[str, Any] = {
            "timestamp": self.ts,
            "regime_id": self.regime_id,
            "regime_name": self.regime_name,
            "confidence_score": self.confidence,
            "regime_score": self.raw_score,
            "regime_persistence_score": self.persistence,
            "stability_level": self.stability_level,
            "time_in_regime_minutes": self.time_in_regime_minutes,
            "stability_checks_passed": ",".join(self.checks_passed),
            "consensus_score": self.consensus_score,
            "transition_probability": self.transition_probability,
            "noise_level": self.noise_level,
            "regime_transition": int(self.transition),
            "regime_persistence": self.extras.get("regime_persistence", self.persistence),
            "volatility_component": self.volatility_class_code,
            "trend_class": self.trend_class_code,
            "vol_class": int(self.extras.get("atr_vol_class_code", self.volatility_class_code)),
        }
        for m in self.modules:
            full[m.column] = m.score if m.active else float("nan")
        for k in ("support1_classic", "resistance1_classic", "underlying_spot", "atm_straddle",
                  "vanna", "charm", "volga"):
            if k in self.extras:
                full[k] = self.extras[k]
        if columns is None:
            rec = dict(full)
        else:
            rec = {c: full[c] for c in columns if c in full}
            for m in self.modules:  # module scores always travel, even those OutputFormat lacks
                rec.setdefault(m.column, full[m.column])
        rec.update({
            "symbol": self.symbol,
            "regime_color": self.color,
            "raw_score": self.raw_score,
            "trend_component": self.trend_component,
            "trend_class_name": self.trend_class,
            "volatility_value": self.volatility_component,
            "volatility_class_name": self.volatility_class,
            "adx": self.adx,
            "noise_threshold": self.noise_threshold,
            "transition_rule": self.transition_rule or "",
            "candidate_regime_id": self.candidate_regime_id,
            "blocked_by": self.blocked_by,
            "active_modules": ",".join(self.active_modules),
            "low_confidence": self.low_confidence,
            "time_slot": self.time_slot,
            "sensitivity": self.sensitivity,
            "param_version": self.param_version,
            "warmup": self.warmup,
        })
        for m in self.modules:
            rec[f"{m.column}_weight"] = m.weight
        return rec


def _num(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _jsonable(v: Any) -> Any:
    if isinstance(v, bool | str) or v is None:
        return v
    if isinstance(v, int | float):
        return _num(v)
    if hasattr(v, "item"):
        return _jsonable(v.item())
    return str(v)
