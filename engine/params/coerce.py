"""Normalise one raw cell value by the schema type (not by what the reader returned).

Why: calamine gives floats for every number and '' for blanks, openpyxl gives ints and
datetimes, LibreOffice saves booleans as cached formulas; the schema type decides.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from .grammar import CONDITION_FORMS, condition_problem
from .schema import FieldSpec

_TRUE = {"true", "1", "yes", "y", "=true()", "true()"}
_FALSE = {"false", "0", "no", "n", "=false()", "false()"}
_BOOLEAN_WORDS = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_COLOUR = re.compile(r"^#?([0-9A-Fa-f]{6})$")
# expression grammars by FieldSpec.format
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_NUM = r"-?\d+(?:\.\d+)?"
EXPRESSIONS: dict[str, re.Pattern[str]] = {
    # ValidationRules: data_gaps>5min, memory>1500MB, latency>300ms, greeks_missing (rules_text.action_condition
    # checks those the engine reads against their action: grammar.action_condition_problem)
    "check": re.compile(
        rf"^(?:abs\({_IDENT}\)|{_IDENT})\s*(?:<=|>=|==|!=|<|>|=|:)\s*"
        rf"(?:{_NUM}-{_NUM}|{_NUM}\s*(?:min|%|(?i:ms|s|sec|mb|gb|sd|sigma))?|{_IDENT})$"
        rf"|^{_IDENT}$"),
    # 0-30
    "range": re.compile(rf"^{_NUM}\s*-\s*{_NUM}$"),
    # gamma_weight=0.4,vega_weight=0.3 ; pivot_types=classic,fib,cam;straddle_depth=3
    "kv_list": re.compile(rf"^{_IDENT}=[^=;]+(?:[,;]\s*{_IDENT}=[^=;]+)*$"),
    # +20% ATR, -15% OIPA
    "adjustment": re.compile(r"^[+-]\d+(?:\.\d+)?%\s+\w+(?:\s*,\s*[+-]\d+(?:\.\d+)?%\s+\w+)*$"),
}
EXPRESSION_HELP = {
    "check": "a check such as data_gaps>5min, price_zscore>4, memory>1500MB, latency>300ms or greeks_missing",
    "condition": "a condition the engine reads: " + CONDITION_FORMS,
    "range": "a range such as 30-70",
    "kv_list": "name=value pairs separated by commas, e.g. atr_period=14,bands_multiplier=2.0",
    "adjustment": "adjustments such as +20% ATR, -15% OIPA",
}


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# a ticker as brokers report it (AAPL, BRK.B, BAJAJ-AUTO, M&M); stored upper-cased, as the engine matches it
_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9.&_/-]{0,31}")
_PATTERN = re.compile(r"[A-Za-z0-9_*?]+")


class CoerceError(ValueError):
    """The raw value cannot mean what the schema asks for."""

    def __init__(self, message: str, expected: str, fix: str = "") -> None:
        super().__init__(message)
        self.message, self.expected, self.fix = message, expected, fix


def is_blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip()) or (isinstance(raw, float) and math.isnan(raw))


def norm_float(x: float) -> float:
    """15 significant digits: survives openpyxl (16) and LibreOffice (15) round trips unchanged."""
    return float(f"{x:.15g}") + 0.0  # + 0.0 turns -0.0 into 0.0


# what openpyxl refuses to write: its own pattern (IllegalCharacterError; tab, newline and carriage return are
# allowed), plus what its XML writer refuses later: the non-characters U+FFFE/U+FFFF and lone surrogates
CONTROL_CHARS = re.compile(ILLEGAL_CHARACTERS_RE.pattern[:-1] + "\ud800-\udfff\ufffe\uffff]")
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
EXACT_INT = 2**53  # floats are exact whole numbers up to here; beyond, 1e30 would read as 1000000000000000019884624838656


def control_char(text: str) -> str | None:
    """The first control character of `text` as \\xNN or \\uNNNN (None when there is none): no .xlsx cell can
    hold one, so a value holding one could be stored but never exported."""
    n = ord(m.group()) if (m := CONTROL_CHARS.search(text)) is not None else None
    return None if n is None else f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


def _check_text(s: str) -> None:
    if (bad := control_char(s)) is not None:
        raise CoerceError(f"found text with the control character {bad}", "text without control characters",
                          "delete the invisible character (often pasted from a terminal or another program)")


def _shown(raw: Any) -> str:
    """The value as typed, cut to a readable length (a 400-digit number stays one line)."""
    text = repr(raw) if isinstance(raw, str) else str(raw)
    return text if len(text) <= 40 else f"{text[:30]}… ({len(text)} characters)"


def _to_float(raw: Any, f: FieldSpec) -> float:
    if isinstance(raw, bool):
        raise CoerceError(f"found {raw!r}, a TRUE/FALSE value", "a number")
    if isinstance(raw, int | float):
        try:
            x = float(raw)
        except OverflowError:  # an int beyond 1.8e308 (JSON from a browser can carry one)
            raise CoerceError(f"found {_shown(raw)}", "a finite number", "type a plain number such as 0.25") from None
    else:
        s = str(raw).strip().replace("\u2212", "-")
        try:
            if "_" in s or not s.isascii():  # float("1_0") is 10 and float("\u0661\u0662") is 12: Python reads
                raise ValueError(s)  # literals and every script's digits; a cell's number is plain ASCII, as Excel's
            x = float(s)
        except ValueError:
            raise CoerceError(f"found {_shown(raw)}", "a number", "type a plain number such as 0.25") from None
    if not math.isfinite(x):
        raise CoerceError(f"found {_shown(raw)}", "a finite number")
    return norm_float(x)


def _to_int(raw: Any, f: FieldSpec) -> int:
    """Whole numbers exactly: an int or integer text is kept as typed (never via float), anything beyond 2**53 is
    refused with the typed text and the allowed range instead of being shown as a float's rounding."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        n = raw
    elif isinstance(raw, str) and _INT_TEXT.fullmatch(t := raw.strip()) and len(t) < 30:
        n = int(t)
    else:
        x = _to_float(raw, f)
        if not x.is_integer():
            raise CoerceError(f"found {_shown(raw)}", "a whole number", f"use e.g. {round(x)}")
        if abs(x) > EXACT_INT:
            raise CoerceError(f"found {_shown(raw)}", _describe(f), "type a whole number in that range")
        return int(x)
    if abs(n) > EXACT_INT:
        raise CoerceError(f"found {_shown(raw)}", _describe(f), "type a whole number in that range")
    return n


def coerce(f: FieldSpec, raw: Any) -> Any:
    """Return the typed value for `raw` or raise CoerceError naming what was expected."""
    t, cls = f.type, raw.__class__
    # fast paths for what readers return most often (the import benchmark is ~1,500 of these)
    if cls is float and t == "number" and math.isfinite(raw):
        return norm_float(raw)
    if cls is float and t == "integer" and raw.is_integer() and abs(raw) <= EXACT_INT:
        return int(raw)
    if cls is str:
        raw = raw.strip()
        _check_text(raw)
        if raw:
            if t == "text":
                if f.format is None or (f.format == "identifier" and _IDENTIFIER.fullmatch(raw)):
                    return raw
            elif t == "boolean":
                b = _BOOLEAN_WORDS.get(raw.lower())
                if b is not None:
                    return b
            elif t == "enum":
                o = f.option_map.get(raw.lower())
                if o is not None:
                    return o
    elif cls is bool and t == "boolean":
        return raw
    if is_blank(raw):
        if f.required:
            raise CoerceError("the cell is empty", _describe(f), f"enter a value (default {fmt_value(f, f.default)})")
        return None
    if t == "integer":
        return _to_int(raw, f)
    if t == "number":
        return _to_float(raw, f)
    if t == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int | float) and raw in (0, 1):
            return bool(raw)
        s = str(raw).lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
        raise CoerceError(f"found {raw!r}", "TRUE or FALSE")
    if t == "time":
        return _to_time(raw)
    if t == "enum":
        s = _as_text(raw)
        o = f.option_map.get(s.lower())
        if o is not None:
            return o
        raise CoerceError(f"found {s!r}", "one of " + ", ".join(f.options), "pick one of the listed options")
    if t == "list":
        items = raw if isinstance(raw, list | tuple) else [p for p in _as_text(raw).split(",")]
        items = [_as_text(i).strip() if not isinstance(i, int | float) or isinstance(i, bool) else i for i in items]
        for i in items:
            if isinstance(i, str):
                _check_text(i)
        if any(i == "" for i in items):
            raise CoerceError(f"found {raw!r} with an empty item", "comma-separated items", "remove the extra comma")
        out: list[Any] = []
        for i in items:
            if f.item_type == "number":
                out.append(_to_float(i, f))
            elif f.item_type == "enum":
                match = f.option_map.get(str(i).lower())
                if match is None:
                    raise CoerceError(f"found item {i!r}", "items from " + ", ".join(f.options))
                out.append(match)
            else:
                out.append(_as_text(i))
        return tuple(out)
    if t == "colour":
        m = _COLOUR.match(_as_text(raw))
        if not m:
            raise CoerceError(f"found {raw!r}", "a colour like #32CD32")
        return "#" + m.group(1).upper()
    s = _as_text(raw)
    if t == "expression" and f.format in EXPRESSIONS and not EXPRESSIONS[f.format].match(s):
        raise CoerceError(f"found {s!r}", EXPRESSION_HELP[f.format])
    if t == "expression" and f.format == "condition" and (why := condition_problem(s)) is not None:
        raise CoerceError(f"found {s!r}: {why}", EXPRESSION_HELP["condition"],
                          "write it like trend_slope>0.015, atr_percentile:30-70 or abs(trend_slope)<0.003")
    if t == "text" and f.format == "symbol" and not _SYMBOL.fullmatch(s := s.upper()):
        raise CoerceError(f"found {s!r}", "a ticker symbol such as AAPL or BRK.B (letters, digits, . - & _ /)")
    if t == "text" and f.format == "identifier" and not _IDENTIFIER.fullmatch(s):
        raise CoerceError(f"found {s!r}", "a name of letters, digits and underscores (no spaces)",
                          "replace spaces and punctuation with _")
    if t == "text" and f.format == "timezone":
        try:
            ZoneInfo(s)
        except (ZoneInfoNotFoundError, ValueError):
            raise CoerceError(f"found {s!r}", "an IANA timezone such as Asia/Kolkata or America/New_York") from None
    if t == "pattern" and not _PATTERN.fullmatch(s):
        raise CoerceError(f"found {s!r}", "a regime name or pattern such as Bullish_* or *_Low_Vol")
    return s


def _as_text(raw: Any) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, datetime):
        return raw.isoformat(sep=" ")
    return str(raw).strip()


def _to_time(raw: Any) -> time:
    if isinstance(raw, datetime):
        return raw.time().replace(microsecond=0)
    if isinstance(raw, time):
        return raw.replace(microsecond=0)
    if isinstance(raw, int | float) and not isinstance(raw, bool) and 0 <= raw < 1:
        secs = round(float(raw) * 86400)  # Excel stores times as a fraction of a day
        return time(secs // 3600, secs % 3600 // 60, secs % 60)
    m = _TIME.match(str(raw).strip())
    if m:
        h, mi, se = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        if h < 24 and mi < 60 and se < 60:
            return time(h, mi, se)
    raise CoerceError(f"found {raw!r}", "a time as HH:MM (24-hour), e.g. 09:15")


def range_words(f: FieldSpec, lead: str, show: Callable[[Any], str] = str, unit: str | None = None) -> str | None:
    """A number field's bounds in words: "<lead> from 7 to 21 periods", "... of at least 0", "... of at most 5";
    None when it has none. `show` formats a bound, `unit` replaces the default " <unit>" suffix. One wording for
    the upload's range issue, the Parameters editor's messages and the what-if knobs."""
    suffix = unit if unit is not None else (f" {f.unit}" if f.unit else "")
    if f.min is not None and f.max is not None:
        return f"{lead} from {show(f.min)} to {show(f.max)}{suffix}"
    if f.min is not None:
        return f"{lead} of at least {show(f.min)}{suffix}"
    if f.max is not None:
        return f"{lead} of at most {show(f.max)}{suffix}"
    return None


def _describe(f: FieldSpec) -> str:
    if f.type == "enum":
        return "one of " + ", ".join(f.options)
    if f.type in ("number", "integer") and f.min is not None and f.max is not None:
        return range_words(f, f"a {'whole ' if f.type == 'integer' else ''}number", unit="") or ""
    return {"boolean": "TRUE or FALSE", "time": "a time HH:MM"}.get(f.type, f"a {f.type}")


def fmt_value(f: FieldSpec | None, v: Any) -> str:
    """Human text for a typed value (error messages, diffs, UI)."""
    if v is None:
        return "(empty)"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, time):
        return v.strftime("%H:%M") if not v.second else v.strftime("%H:%M:%S")
    if isinstance(v, tuple | list):
        return ",".join(fmt_value(f, i) for i in v)
    if isinstance(v, float):
        return f"{v:.15g}"
    return str(v)


def to_json_value(v: Any) -> Any:
    """Typed value -> JSON-able canonical value (times as HH:MM, tuples as lists)."""
    if isinstance(v, time):
        return v.strftime("%H:%M") if not v.second else v.strftime("%H:%M:%S")
    if isinstance(v, tuple):
        return [to_json_value(i) for i in v]
    return v
