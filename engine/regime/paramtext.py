"""Parsers for the workbook's small text languages (so their numbers stay in the workbook).

Covers: IndicatorConfiguration "Parameters" cells ("lookback=50,min_correlation=0.7,assets=NIFTY,BANK"),
DynamicWeightageConfig adjustments ("+20% ATR, +15% IV") and conditions ("High Volatility (ATR>80%ile)"),
RegimeFormationConfig conditions ("trend_slope>0.015", "atr_percentile:30-70", "abs(x)<0.3"),
ValidationRules conditions ("data_age>2min"), and regime name patterns ("Bullish_*", "*_Low_Vol").
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from datetime import time
from typing import Any

_NUM = r"-?\d+(?:\.\d+)?"


def parse_param_string(text: str) -> dict[str, Any]:
    """'a=1,b=x,y;c=true' -> {'a': 1.0, 'b': ['x', 'y'], 'c': True}; bare tokens extend the previous key."""
    out: dict[str, Any] = {}
    last: str | None = None
    for tok in re.split(r"[;,]", text or ""):
        tok = tok.strip()
        if not tok:
            continue
        if "=" in tok:
            key, val = (s.strip() for s in tok.split("=", 1))
            out[key] = _value(val)
            last = key
        elif last is not None:
            prev = out[last]
            out[last] = (prev if isinstance(prev, list) else [prev]) + [_value(tok)]
    return out


def _value(s: str) -> Any:
    if s.lower() in ("true", "false"):
        return s.lower() == "true"
    try:
        return float(s)
    except ValueError:
        return s


def parse_adjustments(adjustment: str, components: str) -> dict[str, float]:
    """'+20% ATR, +15% IV' with 'ATRIndicators,IVSurface' -> {'ATRIndicators': 0.20, 'IVSurface': 0.15}."""
    pcts = [float(m) / 100.0 for m in re.findall(r"([+-]\s*\d+(?:\.\d+)?)\s*%", adjustment or "")]
    names = [c.strip() for c in (components or "").split(",") if c.strip()]
    return {n: p for n, p in zip(names, pcts, strict=False)}


def condition_threshold(condition: str, var: str) -> float | None:
    """Number compared with ``var`` in a condition like 'High Volatility (ATR>80%ile)' (var='ATR')."""
    m = re.search(re.escape(var) + r"\s*[<>]=?\s*(" + _NUM + ")", condition or "", re.IGNORECASE)
    return float(m.group(1)) if m else None


def minutes_threshold(condition: str) -> float | None:
    """'data_age>2min' -> 2.0; 'data_gaps>5min' -> 5.0."""
    m = re.search(r"[<>]=?\s*(" + _NUM + r")\s*min", condition or "")
    return float(m.group(1)) if m else None


def number_threshold(condition: str) -> float | None:
    """'price_zscore>4' -> 4.0."""
    m = re.search(r"[<>]=?\s*(" + _NUM + ")", condition or "")
    return float(m.group(1)) if m else None


def percent_range(text: str) -> tuple[float, float] | None:
    """'30-70' -> (30.0, 70.0)."""
    m = re.fullmatch(r"\s*(" + _NUM + r")\s*-\s*(" + _NUM + r")\s*", str(text or ""))
    return (float(m.group(1)), float(m.group(2))) if m else None


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


def name_matches(pattern: str, name: str) -> bool:
    """Regime name patterns: 'Bullish_*' matches Bullish_Low_Vol (not Strong_Bullish_*); 'ALL' all."""
    pattern = (pattern or "").strip()
    if pattern.upper() == "ALL":
        return True
    if pattern.upper() in ("", "NONE"):
        return False
    return fnmatch.fnmatchcase(name, pattern)


def parse_time(v: Any) -> time:
    """Workbook times arrive as datetime.time or 'HH:MM' text."""
    if isinstance(v, time):
        return v
    hh, mm = str(v).strip().split(":")[:2]
    return time(int(hh), int(mm))
