"""The workbook's small condition / pattern / adjustment languages: one grammar for the validator and the engine.

Why one module: the validator (engine/params) must accept exactly what the regime engine understands, so both
call these parsers (engine/regime/paramtext re-exports them); a text the engine would drop is refused on import.
"""
from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

_NUM = r"-?\d+(?:\.\d+)?"
# the variables the classifier puts in a formation rule's environment (engine/regime/classifier.py `env`)
FORMATION_VARIABLES = ("trend_slope", "atr_percentile", "greek_sentiment", "trend_strength", "price_in_range",
                       "volume_profile")
CONDITION_FORMS = ("name>number, name<number, name>=number, name<=number, abs(name)<number, name:low-high, "
                   "name:number (at least) or name:word (equals), with name one of " + ", ".join(FORMATION_VARIABLES))


@dataclass(frozen=True, slots=True)
class Condition:
    """One RegimeFormationConfig condition, e.g. abs(trend_slope)<0.003 or atr_percentile:30-70."""

    var: str
    op: str  # '>', '<', '>=', '<=', 'range', 'min', 'eq'
    a: float | str
    b: float | None = None
    absolute: bool = False

    def holds(self, env: dict[str, Any]) -> bool | None:
        """True/False, or None when the variable is not available (module inactive)."""
        v = env.get(self.var)
        if v is None:
            return None
        if self.op == "eq":
            return str(v) == str(self.a)
        x = abs(float(v)) if self.absolute else float(v)
        a = float(self.a)
        return {">": x > a, "<": x < a, ">=": x >= a, "<=": x <= a,
                "range": a <= x <= (self.b if self.b is not None else a), "min": x >= a}[self.op]


def parse_condition(text: str) -> Condition | None:
    text = (text or "").strip()
    m = re.fullmatch(r"(abs\()?\s*([a-z_]+)\s*\)?\s*(>=|<=|>|<)\s*(" + _NUM + ")", text)
    if m:
        return Condition(m.group(2), m.group(3), float(m.group(4)), absolute=bool(m.group(1)))
    m = re.fullmatch(r"([a-z_]+)\s*:\s*(" + _NUM + r")\s*-\s*(" + _NUM + ")", text)
    if m:
        return Condition(m.group(1), "range", float(m.group(2)), float(m.group(3)))
    m = re.fullmatch(r"([a-z_]+)\s*:\s*(" + _NUM + ")", text)
    if m:
        return Condition(m.group(1), "min", float(m.group(2)))
    m = re.fullmatch(r"([a-z_]+)\s*:\s*([A-Za-z_]+)", text)
    if m:
        return Condition(m.group(1), "eq", m.group(2))
    return None


def condition_problem(text: str) -> str | None:
    """Why the engine would drop this formation condition (None when it understands it)."""
    c = parse_condition(text)
    if c is None:
        return "the engine cannot read this condition"
    if c.var not in FORMATION_VARIABLES:
        return f"the engine has no variable {c.var!r}"
    return None


def minutes_threshold(condition: str) -> float | None:
    """'data_age>2min' -> 2.0; 'data_gaps>5min' -> 5.0."""
    m = re.search(r"[<>]=?\s*(" + _NUM + r")\s*min", condition or "")
    return float(m.group(1)) if m else None


def number_threshold(condition: str) -> float | None:
    """'price_zscore>4' -> 4.0."""
    m = re.search(r"[<>]=?\s*(" + _NUM + ")", condition or "")
    return float(m.group(1)) if m else None


_UNIT_NUMBER = re.compile(r">=?\s*(" + _NUM + r")\s*([A-Za-z%]*)\s*$")  # limits are tested 'above' only
_MB = {"mb": 1.0, "m": 1.0, "gb": 1000.0, "g": 1000.0}  # decimal, as engine/health/host_checks.py shows RSS
_MS = {"ms": 1.0, "s": 1000.0, "sec": 1000.0}


def _unit_number(condition: str, units: dict[str, float]) -> float | None:
    """The number after > times its unit's factor; None without one, with another unit, or after <."""
    m = _UNIT_NUMBER.search(condition or "")
    if not m or m.group(2).lower() not in units:
        return None
    return float(m.group(1)) * units[m.group(2).lower()]


def megabytes_threshold(condition: str) -> float | None:
    """'memory>1500MB' -> 1500.0; 'memory>1.5GB' -> 1500.0; 'memory>threshold' -> None."""
    return _unit_number(condition, _MB)


def millis_threshold(condition: str) -> float | None:
    """'latency>300ms' -> 300.0; 'latency>2s' -> 2000.0; 'latency>threshold' -> None."""
    return _unit_number(condition, _MS)


def sigma_threshold(condition: str) -> float | None:
    """'iv_abnormal>3' or 'iv_zscore>2.5sd' -> the z-score (sigma) limit; 'iv_abnormal' -> None."""
    return _unit_number(condition, {"": 1.0, "sd": 1.0, "sigma": 1.0})


# ValidationRules actions: the engine looks rows up by these exact names (engine/regime/config.py Validation,
# engine/regime/noise.py); the value is the parser of the condition it reads a number from, with an example.
ACTION_CONDITIONS: dict[str, tuple[Callable[[str], float | None], str]] = {
    "halt_regime_detection": (minutes_threshold, "a gap limit in minutes such as data_gaps>5min"),
    "use_cached_regime": (minutes_threshold, "an age limit in minutes such as data_age>2min"),
    "filter_outlier": (number_threshold, "a z-score limit such as price_zscore>4"),
}
# Actions whose number is optional: without one the engine uses the value named in the example (a workbook
# value or a documented default); with one it must be a number the parser reads (a unit it knows).
OPTIONAL_NUMBER_CONDITIONS: dict[str, tuple[Callable[[str], float | None], str]] = {
    "cap_iv_contribution": (sigma_threshold, "iv_abnormal (IVSurfaceConfig abnormal_surface_threshold sigmas) "
                                             "or a z-score limit such as iv_abnormal>3"),
    "trigger_gc": (megabytes_threshold, "memory>threshold (PerformanceMetrics memory_usage acceptable MB) "
                                        "or a limit in MB or GB such as memory>1500MB"),
    "reduce_computation": (millis_threshold, "latency>threshold (PerformanceMetrics computation_time acceptable "
                                             "ms) or a limit in ms or s such as latency>300ms"),
}
ENGINE_ACTIONS = ("halt_regime_detection", "use_cached_regime", "filter_outlier", "reject_transition",
                  "maintain_regime", "halt_transitions", "flag_low_confidence", "disable_greek_sentiment",
                  "adjust_volume_weight", "cap_iv_contribution", "trigger_gc", "reduce_computation")
_NO_NUMBER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\s*[<>]=?\s*threshold)?")


def action_condition_problem(action: str, condition: str) -> tuple[str, str] | None:
    """(why the engine cannot read the condition of a rule with this action, the accepted forms), or None."""
    text = (condition or "").strip()
    if action in ACTION_CONDITIONS:
        parse, example = ACTION_CONDITIONS[action]
        return None if parse(text) is not None else (f"gives the {action} check no number the engine can read", example)
    if action in OPTIONAL_NUMBER_CONDITIONS:
        parse, example = OPTIONAL_NUMBER_CONDITIONS[action]
        if _NO_NUMBER.fullmatch(text):
            return None
        value = parse(text)
        if value is None:
            return (f"gives the {action} check a limit the engine cannot read (a number after > with a unit "
                    "it knows)"), example
        if value <= 0:
            return f"gives the {action} check a limit of zero or less, which every reading exceeds", example
    return None


def condition_threshold(condition: str, var: str) -> float | None:
    """Number compared with ``var`` in a condition like 'High Volatility (ATR>80%ile)' (var='ATR')."""
    m = re.search(re.escape(var) + r"\s*[<>]=?\s*(" + _NUM + ")", condition or "", re.IGNORECASE)
    return float(m.group(1)) if m else None


_WEIGHT_KEYWORDS = (("expiry", "expiry_day"), ("volume", "low_volume"), ("correlation", "high_correlation"))
WEIGHT_CONDITION_FORMS = "ATR>number (ATR percentile), ADX>number, or a text naming Expiry, Volume or Correlation"


def weight_condition(condition: str) -> tuple[str, float | None]:
    """Map an adjustment-rule condition to a measured market state (keywords; numbers from the text)."""
    thr = condition_threshold(condition, "ATR")
    if thr is not None:
        return "atr_percentile", thr
    thr = condition_threshold(condition, "ADX")
    if thr is not None:
        return "adx", thr
    text = condition.lower()
    for key, flag in _WEIGHT_KEYWORDS:
        if key in text:
            return flag, None
    return "", None


def weight_condition_problem(condition: str) -> str | None:
    """Why the engine would not fire (or would misread) this adjustment-rule condition; None when it maps."""
    text = condition or ""
    found = [m.group(2) for m in re.finditer(r"(ATR|ADX)\s*([<>]=?)\s*" + _NUM, text, re.IGNORECASE)]
    found += [k for k, _ in _WEIGHT_KEYWORDS if k in text.lower()]
    if not found:
        return "the engine cannot map this condition to a market state"
    if len(found) > 1:
        return "the engine reads only one state per condition"
    if found[0] in ("<", "<=", ">="):
        return f"the engine tests only 'above' ({found[0]} would be read as >)"
    return None


# the short names adjustments use ("+20% ATR") for the DynamicWeightageConfig components
COMPONENT_ALIASES = {"atr": "ATRIndicators", "iv": "IVSurface", "oipa": "TrendingOIPA", "mtf": "MultiTimeframe",
                     "greek": "GreekSentiment", "greeks": "GreekSentiment", "straddle": "StraddleAnalysis",
                     "volume": "VolumeProfile", "correlation": "Correlation"}
_ADJUSTMENT = re.compile(r"([+-]\d+(?:\.\d+)?)%\s*([A-Za-z_][A-Za-z0-9_]*)")


def component_named(name: str, components: Iterable[str]) -> str | None:
    """The component a short name denotes: its full name (any case) or an alias such as ATR or IV."""
    low = name.lower()
    for c in components:
        if c.lower() == low:
            return c
    return COMPONENT_ALIASES.get(low)


def adjustment_pairs(adjustment: str, components: Iterable[str]) -> list[tuple[str, str | None, float]]:
    """'+20% ATR, +15% IV' -> [('ATR', 'ATRIndicators', 0.2), ('IV', 'IVSurface', 0.15)] (None: no such component)."""
    comps = list(components)
    return [(m.group(2), component_named(m.group(2), comps), float(m.group(1)) / 100.0)
            for m in _ADJUSTMENT.finditer(adjustment or "")]


def parse_adjustments(adjustment: str, components: str) -> dict[str, float]:
    """'+20% ATR, +15% IV' with 'ATRIndicators,IVSurface' -> {'ATRIndicators': 0.20, 'IVSurface': 0.15}: each
    percentage goes to the component it names (never by position); names outside the list are dropped."""
    names = [c.strip() for c in (components or "").split(",") if c.strip()]
    return {c: p for _, c, p in adjustment_pairs(adjustment, names) if c is not None and c in names}


def adjustment_problem(adjustment: str, components: Iterable[str], known: Iterable[str]) -> str | None:
    """Why an adjustment and its Components list do not pair one to one by name (None when they do)."""
    comps, known = list(components), list(known)
    pairs = adjustment_pairs(adjustment, known)
    unknown = [n for n, c, _ in pairs if c is None]
    if unknown:
        return f"{', '.join(unknown)} names no component"
    named = [c for _, c, _ in pairs if c is not None]
    dup = sorted({c for c in named if named.count(c) > 1})
    if dup:
        return f"{', '.join(dup)} is adjusted twice"
    extra = [c for c in named if c not in comps]
    missing = [c for c in comps if c not in named]
    if extra or missing:
        parts = ([f"{', '.join(extra)} not in Components"] if extra else []) + (
            [f"no percentage for {', '.join(missing)}"] if missing else [])
        return "; ".join(parts)
    return None


def name_matches(pattern: str, name: str) -> bool:
    """Regime name patterns: 'Bullish_*' matches Bullish_Low_Vol (not Strong_Bullish_*); 'ALL' all."""
    pattern = (pattern or "").strip()
    if pattern.upper() == "ALL":
        return True
    if pattern.upper() in ("", "NONE"):
        return False
    return fnmatch.fnmatchcase(name, pattern)


def restriction_matches(p: str, trend_class: str, regime_name: str, directional: bool) -> bool:
    """One IntradaySettings restriction: 'Strong_*' (case as written), 'Sideways' / 'Strong_Bullish' (a trend
    class or a name prefix, any case), 'Trending' (every directional class), 'NONE'."""
    pl = p.lower()
    if pl in ("none", ""):
        return False
    if pl == "trending" and directional:
        return True
    if pl.endswith("*") and (regime_name.startswith(p[:-1]) or trend_class.startswith(p[:-1])):
        return True
    return pl == trend_class.lower() or regime_name.lower().startswith(pl + "_")
