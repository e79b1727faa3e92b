"""Parsers for the workbook's small text languages (so their numbers stay in the workbook).

Covers: IndicatorConfiguration "Parameters" cells ("lookback=50,min_correlation=0.7,assets=NIFTY,BANK"),
DynamicWeightageConfig adjustments ("+20% ATR, +15% IV") and conditions ("High Volatility (ATR>80%ile)"),
RegimeFormationConfig conditions ("trend_slope>0.015", "atr_percentile:30-70", "abs(x)<0.3"),
ValidationRules conditions ("data_age>2min"), and regime name patterns ("Bullish_*", "*_Low_Vol").
"""
from __future__ import annotations

import re
from datetime import time
from typing import Any

# the condition, pattern and adjustment languages live with the validator, so it accepts exactly what we read
from engine.params.grammar import (
    Condition,
    condition_threshold,
    minutes_threshold,
    name_matches,
    number_threshold,
    parse_adjustments,
    parse_condition,
)

__all__ = ["Condition", "condition_threshold", "minutes_threshold", "name_matches", "number_threshold",
           "parse_adjustments", "parse_condition", "parse_param_string", "parse_time", "percent_range"]
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


def percent_range(text: str) -> tuple[float, float] | None:
    """'30-70' -> (30.0, 70.0)."""
    m = re.fullmatch(r"\s*(" + _NUM + r")\s*-\s*(" + _NUM + r")\s*", str(text or ""))
    return (float(m.group(1)), float(m.group(2))) if m else None


def parse_time(v: Any) -> time:
    """Workbook times arrive as datetime.time or 'HH:MM' text."""
    if isinstance(v, time):
        return v
    hh, mm = str(v).strip().split(":")[:2]
    return time(int(hh), int(mm))
