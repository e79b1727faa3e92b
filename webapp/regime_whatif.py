"""What-if preview of the Regime page: pending parameter edits replayed over the stored history.

Edits use the Parameters page's keys (`Sheet|section|field`, or `Sheet|section|row|field` for a
table cell) with the raw value as typed. They are written over the active version, validated by
the engine's own validator, and both versions are replayed with the engine's regime replay (its
batch path, identical to the RegimeClassifier fed the same pieces) over the same stored bars and
chains (copies; nothing is written), so the only difference between the two sequences is the edits.
Replays run in chunks so a caller can report progress.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import pandas as pd

from engine.market.exchange import MarketCalendar
from engine.market.types import OptionChain
from engine.params import ParamsError, ParamSet, ValidationError
from engine.params.coerce import CoerceError, coerce, fmt_value, range_words
from engine.regime.intraday import IntradayClock
from engine.regime.replay import replay as regime_replay
from engine.regime.types import RegimeError
from webapp import param_rows
from webapp.form_ids import FormIdError, parse_id
from webapp.regime_analysis import compare

# The regime knobs editable right on the Regime page (kv parameters the engine reads).
KNOBS: tuple[str, ...] = (
    "StabilityConfiguration|main|minimum_regime_duration",
    "StabilityConfiguration|main|confirmation_window",
    "StabilityConfiguration|main|hysteresis_buffer",
    "StabilityConfiguration|main|transition_margin",
    "StabilityConfiguration|main|confidence_threshold",
    "StabilityConfiguration|main|max_transitions_per_hour",
    "StabilityConfiguration|main|max_transitions_per_day",
    "TransitionManagement|main|allow_direct_reversals",
    "TransitionManagement|main|require_neutral_buffer",
)
WINDOWS = (390, 780, 1560)  # bars compared: about one, two and four sessions of 1-minute bars
WARMUP_BARS = 300  # replayed before the window and not compared (the modules' look-back)
CHUNKS = 10  # progress steps per replay

Progress = Callable[[float, str], None]


class WhatIfError(Exception):
    """The preview cannot run (bad edits, no history); the message says what to do."""


@dataclass(frozen=True)
class Knob:
    key: str
    sheet: str
    section: str
    row: int | None
    field: str


def parse_key(key: str) -> Knob:
    """An edit key -> its address; WhatIfError (never a Python error) for a key that is not one."""
    parts = key.split("|") if isinstance(key, str) else []
    if len(parts) == 3:
        return Knob(key, parts[0], parts[1], None, parts[2])
    if len(parts) == 4:
        try:  # a table row index (0 is the first row); "²" or a 30-digit row is no address
            return Knob(key, parts[0], parts[1], parse_id(parts[2], "the row", "row", minimum=0), parts[3])
        except FormIdError:
            pass
    raise WhatIfError(f"pending edit {str(key)[:80]!r} is not a parameter address (Sheet|section|field); "
                      "discard it on the Parameters page")


def allowed_range(spec: Any) -> str:
    """The schema's allowed values of a number knob, e.g. "a number from 15 to 120 (minutes)"."""
    what = "a whole number" if spec.type == "integer" else "a number"
    unit = f" ({spec.unit})" if spec.unit else ""
    return range_words(spec, what, lambda bound: fmt_value(spec, bound), unit) or what + unit


def check_knob(spec: Any, raw: Any) -> tuple[Any, str | None]:
    """A knob's text as typed, read by the schema field `spec` (FieldSpec: type, min, max) the way the
    Parameters page reads a cell (engine.params.coerce) and checked against its bounds.

    Returns (typed value, None), or (None, message) quoting the typed text and the allowed range; an empty
    box is a problem too (the what-if would otherwise silently use the active value)."""
    text = raw.strip() if isinstance(raw, str) else raw
    shown = repr(str(text)[:40]) if text is not None else "nothing"
    allowed = allowed_range(spec)
    if text is None or text == "":
        return None, f"empty: enter {allowed}"
    if spec.type == "boolean":
        try:
            return coerce(spec, text), None
        except (CoerceError, OverflowError, TypeError, ValueError):
            return None, f"{shown} is not TRUE or FALSE"
    try:
        value = coerce(spec, text)
    except CoerceError as exc:
        if spec.type == "integer" and exc.expected == "a whole number":
            return None, f"{shown} is not a whole number: enter {allowed}"
        return None, f"{shown} is not a number: enter {allowed}"
    except (OverflowError, TypeError, ValueError):  # e.g. an integer too large for a float
        return None, f"{shown} is not a number: enter {allowed}"
    if value is None:
        return None, f"empty: enter {allowed}"
    if spec.min is not None and value < spec.min:
        return None, f"{shown} is below the allowed range: enter {allowed}"
    if spec.max is not None and value > spec.max:
        return None, f"{shown} is above the allowed range: enter {allowed}"
    return value, None


@lru_cache(maxsize=4)
def _canonical_sheets(params: ParamSet) -> dict[str, Any]:
    """Canonical sheets of a version, built once (ParamSet hashes by content); callers must not mutate."""
    return params.to_canonical()["sheets"]


def current_value(params: ParamSet, key: str) -> Any:
    """The value of an edit key in `params` (as the Parameters page's canonical form holds it)."""
    k = parse_key(key)
    sec = _canonical_sheets(params)[k.sheet][k.section]
    return sec[k.field] if k.row is None else sec[k.row][k.field]


def merge_edits(*sources: Mapping[str, Any] | None) -> dict[str, Any]:
    """Later sources win; accepts {key: raw} or {"edits": {key: raw}, ...} (the Parameters page store)."""
    out: dict[str, Any] = {}
    for src in sources:
        if not src:
            continue
        nested = src.get("edits")
        edits = nested if isinstance(nested, Mapping) else src
        out.update({str(k): v for k, v in edits.items() if "|" in str(k)})
    return out


def upload_sheets(*uploads: Any) -> tuple[dict[str, Any] | None, str]:
    """The first usable uploaded set ({"sheets": ..., "filename": ...}) and its name, else (None, "")."""
    for up in uploads:
        if isinstance(up, Mapping) and isinstance(up.get("sheets"), Mapping):
            return dict(up["sheets"]), str(up.get("filename") or "uploaded workbook")
    return None, ""


def apply_edits(base: ParamSet, edits: Mapping[str, Any], origin: Mapping[str, Any] | None = None) -> ParamSet:
    """The edits written over `origin` (canonical sheets of an uploaded workbook) or over `base`,
    validated as a whole (raises WhatIfError listing the problems).

    A table's row changes (key "Sheet|section", the Parameters page's {"deleted": [row tokens], "added": [rows]})
    are made first, as Apply makes them (webapp.param_rows); cell keys then name a row by its place in the table
    as edited. Row changes that no longer fit (a deleted row is gone) refuse the run: never silently skipped."""
    sheets = copy.deepcopy(dict(origin) if origin is not None else _canonical_sheets(base))
    layouts = {key: value for key, value in edits.items() if isinstance(key, str) and param_rows.is_rows_key(key)}
    if layouts:
        try:
            res = param_rows.resolve(base.schema, sheets, layouts)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise WhatIfError(f"the pending row changes do not fit this workbook ({exc}); discard them and edit "
                              "again") from None
        if res.dropped:
            raise WhatIfError(param_rows.dropped_message(list(res.dropped.values())) + " Nothing was run; discard "
                              "them on the Parameters page")
        sheets = copy.deepcopy(res.sheets)
    for key, raw in edits.items():
        if key in layouts:
            continue
        k = parse_key(key)
        try:
            sec = sheets[k.sheet][k.section]
            target = sec if k.row is None else sec[k.row]
        except (KeyError, IndexError, TypeError):
            raise WhatIfError(f"pending edit {key}: no such parameter in this workbook version; "
                              "discard it and edit again") from None
        if k.field not in target:
            raise WhatIfError(f"pending edit {key}: {k.sheet} has no parameter {k.field}; discard it")
        target[k.field] = raw
    try:
        return ParamSet.from_canonical({"sheets": sheets}, schema=base.schema)
    except ValidationError as exc:
        problems = "; ".join(str(i) for i in exc.issues[:5])
        raise WhatIfError(f"the pending edits are not a valid parameter set ({problems}); fix them first") from None
    except ParamsError as exc:
        raise WhatIfError(f"the pending edits could not be read: {exc}") from None


def edits_words(edits: Mapping[str, Any]) -> str:
    """What the pending edits are, counted as Apply would make them: "3 pending edit(s)" for values, and each
    table's row changes ("TransitionRules: 5 row(s) deleted, 1 added"), never one row change counted as one edit."""
    values = [k for k in edits if not (isinstance(k, str) and param_rows.is_rows_key(k))]
    parts = [f"{len(values)} pending edit(s)"] if values else []
    for key, layout in edits.items():
        if key in values or not isinstance(layout, Mapping):
            continue
        deleted, added = len(layout.get("deleted") or []), len(layout.get("added") or [])
        what = ([f"{deleted} row(s) deleted"] if deleted else []) + ([f"{added} row(s) added"] if added else [])
        sheet, section = str(key).split("|")
        parts.append(f"{sheet}{'' if section == 'main' else f' ({section})'}: {', '.join(what) or 'rows unchanged'}")
    return " + ".join(parts)


def session_minutes_for(calendar: MarketCalendar | None, times: pd.Series, params: ParamSet) -> float:
    """The minutes of one market session, for "transitions per day": with an exchange, its regular session on the
    days the bars cover (the median, so an early close does not move it; 390 for XNYS); else the workbook's
    MasterConfiguration open-close, the session the engine's max_transitions_per_day counts in. Never 1,440 for
    bars that only cover a session (a replay with no session would read the day from the data)."""
    if calendar is not None and calendar.exchange is not None and len(times):
        local = pd.to_datetime(times, utc=True).dt.tz_convert(calendar.timezone).dt.date
        lengths = [(h[1] - h[0]).total_seconds() / 60.0 for d in sorted(set(local))
                   if (h := calendar.regular_hours(d)) is not None]
        if lengths:
            return float(pd.Series(lengths).median())
    return float(IntradayClock(params).session_minutes)


SEQUENCE_COLUMNS = ["ts", "regime_id", "regime_name", "color", "confidence", "is_transition"]


def sequence_frame(records: pd.DataFrame, start: datetime | None) -> pd.DataFrame:
    """Classified (non warm-up) bars from `start` on: ts, regime_id, regime_name, color, confidence, transition."""
    if records.empty:
        return pd.DataFrame(columns=SEQUENCE_COLUMNS)
    keep = ~records["warmup"].astype(bool)
    if start is not None:
        keep &= records["timestamp"] >= start
    r = records[keep]
    return pd.DataFrame({"ts": r["timestamp"], "regime_id": r["regime_id"], "regime_name": r["regime_name"],
                         "color": r["regime_color"], "confidence": r["confidence_score"].astype(float),
                         "is_transition": r["regime_transition"].astype(bool)}).reset_index(drop=True)


def replay(bars: pd.DataFrame, chains: list[OptionChain], params: ParamSet, symbol: str,
           progress: Callable[[float], None] | None = None, chunks: int = CHUNKS) -> pd.DataFrame:
    """The engine's regime replay over `bars` fed in `chunks` pieces: one record per bar, every field
    (the batch path; the same answers as the RegimeClassifier fed those pieces, see engine.regime.replay)."""
    size = max(1, math.ceil(len(bars) / max(chunks, 1)))
    report = (lambda done, total: progress(done / total)) if progress is not None else None
    try:
        return regime_replay(bars, params, chains=chains or None, symbol=symbol, progress=report, chunk=size,
                             all_fields=True)
    except RegimeError as exc:
        raise WhatIfError(f"the regime engine refused the stored history: {exc}") from None


def run_whatif(bars: pd.DataFrame, chains: list[OptionChain], start: datetime | None, base: ParamSet,
               candidate: ParamSet, symbol: str, progress: Progress | None = None,
               session: float | None = None) -> dict[str, Any]:
    """Replay the active version and the candidate over the same bars; the two sequences and a comparison
    (`session`: the market session's minutes for "transitions per day", see session_minutes_for)."""
    if bars.empty:
        raise WhatIfError("no stored bars to replay yet; wait for the engine to store some history")

    def step(phase: str, offset: float) -> Callable[[float], None]:
        return lambda f: progress(offset + f / 2, phase) if progress else None

    current = sequence_frame(replay(bars, chains, base, symbol, step("replaying the active version", 0.0)), start)
    cand = sequence_frame(replay(bars, chains, candidate, symbol, step("replaying the pending edits", 0.5)), start)
    if current.empty:
        raise WhatIfError(f"{len(bars)} stored bars are not enough for the regime modules to warm up; "
                          "wait for more history or pick a longer window")
    return {"current": current, "candidate": cand, "summary": compare(current, cand, session)}
