"""What-if preview logic and the Regime page's store reads: edits over the active version, chunked
replay = one-shot replay, the comparison, and the queries on a real SQLite store."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.params import default_params
from engine.regime.classifier import RegimeClassifier
from engine.regime.testing import chain, ohlcv
from engine.regime_stage import snapshot_row
from engine.store import regime_queries as rq
from engine.store.migrate import open_store
from engine.store.models import BarRow, Instrument, OptionChainSnapshot
from engine.store.writes import pack_chain
from webapp.regime_whatif import (
    WhatIfError,
    apply_edits,
    current_value,
    merge_edits,
    replay,
    run_whatif,
    upload_sheets,
)

PS = default_params()
T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
HYST = "StabilityConfiguration|main|hysteresis_buffer"


def _bars(n: int = 800, seed: int = 3) -> pd.DataFrame:
    """Up, down, flat, up: a path with several regime changes."""
    rng = np.random.default_rng(seed)
    drift = np.repeat([0.0006, -0.0006, 0.0, 0.0008], n // 4)
    return ohlcv(100 * np.exp(np.cumsum(drift + 0.0012 * rng.standard_normal(len(drift)))), start=T0)


BARS = _bars()


def test_apply_edits_changes_only_the_edited_value() -> None:
    edited = apply_edits(PS, {HYST: 0.1, "TransitionManagement|main|allow_direct_reversals": True})
    assert edited.sheet("StabilityConfiguration").hysteresis_buffer == 0.1
    assert edited.sheet("TransitionManagement").allow_direct_reversals is True
    assert edited.sheet("StabilityConfiguration").confirmation_window == PS.sheet("StabilityConfiguration").confirmation_window
    assert edited.version_id is None and edited.content_hash != PS.content_hash
    assert current_value(PS, HYST) == 0.05 and apply_edits(PS, {}) == PS


def test_apply_edits_refuses_invalid_values_and_unknown_parameters_with_a_clear_message() -> None:
    with pytest.raises(WhatIfError, match="StabilityConfiguration.*fix them first"):
        apply_edits(PS, {HYST: 0.9})  # bounds 0.02..0.15
    with pytest.raises(WhatIfError, match="no parameter nonsense"):
        apply_edits(PS, {"StabilityConfiguration|main|nonsense": 1})
    with pytest.raises(WhatIfError, match="not a parameter address"):
        apply_edits(PS, {"StabilityConfiguration|x|y|z|w": 1})
    edited = apply_edits(PS, {"RegimeParameters|main|0|max_duration": 200})  # table cell by row index
    assert edited.table("RegimeParameters")[0].max_duration == 200


def test_merge_edits_accepts_the_parameters_page_store_and_later_sources_win() -> None:
    from_page = {"edits": {HYST: 0.1, "StabilityConfiguration|main|confirmation_window": 4}, "base_version_id": 3}
    merged = merge_edits(from_page, {HYST: 0.12}, None)
    assert merged == {HYST: 0.12, "StabilityConfiguration|main|confirmation_window": 4}
    assert merge_edits({"junk": 1, HYST: 0.03}) == {HYST: 0.03}


def test_chunked_replay_equals_one_call_and_reports_progress() -> None:
    fractions: list[float] = []
    chunked = replay(BARS, [], PS, "X", fractions.append, chunks=7)
    whole = RegimeClassifier(PS, "X").update_many(BARS)
    assert chunked["regime_id"].tolist() == [o.regime_id for o in whole]
    assert chunked["confidence_score"].tolist() == pytest.approx([o.confidence for o in whole])
    assert len(fractions) == 7 and fractions == sorted(fractions) and fractions[-1] == 1.0


def test_run_whatif_same_params_agree_and_stricter_caps_mean_fewer_transitions() -> None:
    start = BARS["timestamp"].iloc[300].to_pydatetime()
    same = run_whatif(BARS, [], start, PS, PS, "X")
    assert same["summary"]["agreement_pct"] == 100.0 and same["summary"]["bars"] == 500
    assert same["current"]["ts"].min() >= start

    seen: list[tuple[float, str]] = []
    strict = apply_edits(PS, {"StabilityConfiguration|main|max_transitions_per_hour": 1,
                              "StabilityConfiguration|main|max_transitions_per_day": 3})
    out = run_whatif(BARS, [], start, PS, strict, "X", lambda f, phase: seen.append((f, phase)))
    s = out["summary"]
    assert s["transitions_current"] > 0
    assert s["transitions_candidate"] < s["transitions_current"]
    assert s["agreement_pct"] < 100.0
    assert {p for _, p in seen} == {"replaying the active version", "replaying the pending edits"}
    assert [f for f, _ in seen] == sorted(f for f, _ in seen) and seen[-1][0] == 1.0


def test_run_whatif_needs_history() -> None:
    with pytest.raises(WhatIfError, match="no stored bars"):
        run_whatif(BARS.iloc[:0], [], None, PS, PS, "X")
    with pytest.raises(WhatIfError, match="not enough"):
        run_whatif(BARS.iloc[:10], [], None, PS, PS, "X")


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    st = open_store(f"sqlite:///{tmp_path / 'r.db'}", migrate=True)
    bars = BARS.iloc[:400]
    outs = RegimeClassifier(PS, "IDX").update_many(bars)
    with st.write() as s:
        s.add(Instrument(symbol="IDX", kind="index", has_options=True, source="test"))
        s.add_all(BarRow(symbol="IDX", ts=r.timestamp.to_pydatetime(), open=r.open, high=r.high, low=r.low,
                         close=r.close, volume=r.volume) for r in bars.itertuples())
        for k in range(0, 400, 50):
            c = chain(float(bars["close"].iloc[k]), bars["timestamp"].iloc[k].to_pydatetime())
            s.add(OptionChainSnapshot(underlying="IDX", ts=c.ts, spot=c.spot, contracts=len(c.strike), data=pack_chain(c)))
        s.add_all(snapshot_row(o, None) for o in outs if not o.warmup)
    yield st, [o for o in outs if not o.warmup]
    st.dispose()


def test_queries_history_latest_and_catalogue(store) -> None:  # type: ignore[no-untyped-def]
    st, outs = store
    with st.read() as s:
        hist = rq.regime_history(s, 100)
        latest = rq.latest_regime(s, "IDX")
        cat = rq.regime_catalogue(s)
    assert len(hist) == 100 and hist["ts"].is_monotonic_increasing
    assert list(hist["regime_name"]) == [o.regime_name for o in outs[-100:]]
    assert latest is not None and latest["regime_name"] == outs[-1].regime_name
    assert len(latest["modules"]) == 8 and {"name", "score", "weight", "contribution", "active", "reason"} <= set(
        latest["modules"][0])
    assert cat["version_id"] is None and cat["version"] is None  # fresh store: the workbook defaults
    bull = next(r for r in cat["regimes"] if r["regime_name"] == "Bullish_Low_Vol")
    assert (bull["color"], bull["min_duration"], bull["typical_duration"], bull["max_duration"]) == (
        "#7CFC00", 30.0, 90.0, 240.0)
    assert len(cat["regimes"]) == 18


def test_replay_window_bars_warmup_chains_and_start(store) -> None:  # type: ignore[no-untyped-def]
    st, _ = store
    with st.read() as s:
        bars, chains, start = rq.replay_window(s, "IDX", 100, 150)
        small, _, small_start = rq.replay_window(s, "IDX", 1000, 150)
        none = rq.replay_window(s, "NOPE", 100, 150)
    assert len(bars) == 250 and start == bars["timestamp"].iloc[150]
    assert start == T0 + timedelta(minutes=300)
    assert [c.ts for c in chains] == sorted(c.ts for c in chains) and len(chains) == 5  # chains at 150, 200 ... 350
    assert chains[0].ts >= bars["timestamp"].iloc[0]
    assert len(small) == 400 and small_start == T0
    assert none[0].empty and none[2] is None


def test_edits_apply_over_an_uploaded_set_when_there_is_one() -> None:
    uploaded = apply_edits(PS, {"StabilityConfiguration|main|confirmation_window": 9})
    sheets, name = upload_sheets(None, {"junk": 1}, {"filename": "mine.xlsx", "sheets": uploaded.to_canonical()["sheets"]})
    assert name == "mine.xlsx" and sheets is not None
    both = apply_edits(PS, {HYST: 0.1}, sheets)
    assert both.sheet("StabilityConfiguration").confirmation_window == 9  # from the upload
    assert both.sheet("StabilityConfiguration").hysteresis_buffer == 0.1  # the edit on top
    assert upload_sheets(None, None) == (None, "")


def _spec(field: str):  # type: ignore[no-untyped-def]
    return PS.schema.sheet("StabilityConfiguration").section("main").field(field)


@pytest.mark.parametrize(("field", "typed", "message"), [
    # bounds from the schema: minimum_regime_duration 15..120 minutes, hysteresis_buffer 0.02..0.15 (ratio),
    # transition_margin 0.05..0.2 (ratio), max_transitions_per_hour a whole number 1..4 (count)
    ("minimum_regime_duration", "-5", "'-5' is below the allowed range: enter a number from 15 to 120 (minutes)"),
    ("hysteresis_buffer", "abc", "'abc' is not a number: enter a number from 0.02 to 0.15 (ratio)"),
    ("transition_margin", "7", "'7' is above the allowed range: enter a number from 0.05 to 0.2 (ratio)"),
    ("max_transitions_per_hour", "2.5", "'2.5' is not a whole number: enter a whole number from 1 to 4 (count)"),
    ("hysteresis_buffer", "  ", "empty: enter a number from 0.02 to 0.15 (ratio)"),
    ("hysteresis_buffer", None, "empty: enter a number from 0.02 to 0.15 (ratio)"),
    ("hysteresis_buffer", "inf", "'inf' is not a number: enter a number from 0.02 to 0.15 (ratio)"),
    ("hysteresis_buffer", 10 ** 400, "is not a number: enter a number from 0.02 to 0.15 (ratio)"),
    ("hysteresis_buffer", "0.151", "'0.151' is above the allowed range"),
])
def test_check_knob_names_the_typed_text_and_the_allowed_range(field: str, typed: object, message: str) -> None:
    from webapp.regime_whatif import check_knob

    value, problem = check_knob(_spec(field), typed)
    assert value is None and problem is not None and message in problem


@pytest.mark.parametrize(("field", "typed", "value"), [
    ("hysteresis_buffer", "0.1", 0.1), ("hysteresis_buffer", " 0.02 ", 0.02), ("hysteresis_buffer", 0.15, 0.15),
    ("minimum_regime_duration", "15", 15.0), ("max_transitions_per_hour", "3", 3), ("max_transitions_per_hour", 4.0, 4),
])
def test_check_knob_reads_valid_text_as_the_typed_value(field: str, typed: object, value: object) -> None:
    from webapp.regime_whatif import check_knob

    got, problem = check_knob(_spec(field), typed)
    assert problem is None and got == value and type(got) is type(value)


def test_read_knobs_keeps_changed_valid_values_and_lists_every_problem() -> None:
    from webapp.regime_whatif_page import read_knobs

    def ident(field: str) -> dict[str, str]:
        return {"type": "regime-knob-num", "key": f"StabilityConfiguration|main|{field}"}

    ids_ = [ident("minimum_regime_duration"), ident("hysteresis_buffer"), ident("transition_margin"),
            ident("confirmation_window"), ident("confidence_threshold"), {"type": "regime-knob-num", "key": "x|y|z"}]
    edits, problems = read_knobs(PS, ["-5", "abc", "7", "4", "0.45", "1"], ids_)
    assert edits == {"StabilityConfiguration|main|confirmation_window": 4.0}  # 0.45 is the active value
    assert problems == {
        "StabilityConfiguration|main|minimum_regime_duration":
            "'-5' is below the allowed range: enter a number from 15 to 120 (minutes)",
        "StabilityConfiguration|main|hysteresis_buffer": "'abc' is not a number: enter a number from 0.02 to 0.15 (ratio)",
        "StabilityConfiguration|main|transition_margin":
            "'7' is above the allowed range: enter a number from 0.05 to 0.2 (ratio)",
    }
