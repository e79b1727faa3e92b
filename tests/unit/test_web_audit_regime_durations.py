"""Regime page durations are market minutes, not wall-clock time between snapshots: with regular-session bars
(14:30-21:00 UTC, 390 one-minute bars a session) a regime held over the close lasts the bars it was held, as the
engine's time in regime and the workbook's Min/Typical/MaxDuration count, and transitions are per session."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from webapp.regime_analysis import compare, duration_stats, segments, transitions_per_day

DAY1 = datetime(2026, 3, 4, 14, 30, tzinfo=UTC)
SESSION = 390  # 14:30-21:00 UTC
NAMES = {1: "A", 2: "B", 3: "C"}
CATALOGUE = [{"regime_id": i, "regime_name": n, "color": "#000", "min_duration": 15.0, "typical_duration": 90.0,
              "max_duration": 360.0 if i < 3 else 400.0} for i, n in NAMES.items()]


def three_sessions(with_tir: bool = False, restart_day3: bool = False) -> pd.DataFrame:
    """Day 1: A 300 bars, B 90; day 2: B 30, C 360; day 3: C 10, A 380 (ongoing). One row per one-minute bar.

    `with_tir`: the engine's stored time_in_regime_s (0 on a run's first bar, +60 s a bar); `restart_day3`: the
    engine restarted before day 3, so its clock of C starts again at 0 there."""
    ids = [1] * 300 + [2] * 90 + [2] * 30 + [3] * 360 + [3] * 10 + [1] * 380
    ts = [DAY1 + timedelta(days=i // SESSION, minutes=i % SESSION) for i in range(3 * SESSION)]
    frame = pd.DataFrame({"ts": ts, "regime_id": ids, "regime_name": [NAMES[i] for i in ids]})
    if with_tir:
        tir, k = [], 0
        for i, rid in enumerate(ids):
            k = 0 if i == 0 or rid != ids[i - 1] or (restart_day3 and i == 2 * SESSION) else k + 1
            tir.append(60.0 * k)
        frame["time_in_regime_s"] = tir
    return frame


@pytest.mark.parametrize("with_tir", [False, True])
def test_web_audit_runs_held_over_the_close_last_their_market_minutes(with_tir: bool) -> None:
    segs = segments(three_sessions(with_tir))
    assert list(segs["regime_name"]) == ["A", "B", "C", "A"]
    # hand: B = 90 bars on day 1 + 30 on day 2 = 120 market minutes (the wall clock says 19:30 -> 15:00 next
    # day = 1170); C = 360 + 10 = 370 (wall clock 1420); one-minute bars, so bars = minutes
    assert list(segs["minutes"]) == [300.0, 120.0, 370.0, 380.0]
    stats = duration_stats(segs, CATALOGUE).set_index("regime_name")
    assert stats.loc["B", "longest"] == 120.0 and stats.loc["B", "above_max_pct"] == 0.0  # 120 <= 360
    assert stats.loc["C", "longest"] == 370.0 and stats.loc["C", "above_max_pct"] == 0.0  # 370 <= 400
    assert stats.loc["A", "runs"] == 1 and stats.loc["A", "longest"] == 300.0  # the ongoing A is left out


def test_web_audit_an_engine_restart_inside_a_run_does_not_shorten_it() -> None:
    # the stored clock of C restarts at day 3: C still counts its 360 + 10 bars, not 9 + 1 minutes
    segs = segments(three_sessions(with_tir=True, restart_day3=True))
    assert list(segs["minutes"]) == [300.0, 120.0, 370.0, 380.0]


def test_web_audit_transitions_are_counted_per_market_session() -> None:
    seq = three_sessions()
    # hand: 3 changes (A->B, B->C, C->A) over 3 x 390 bars = 3 sessions -> 1.0 a session
    # (per 24 h of wall clock it was 3 / 2.27 days = 1.32)
    assert transitions_per_day(seq) == pytest.approx(1.0)
    assert transitions_per_day(seq, session=SESSION) == pytest.approx(1.0)
    summary = compare(seq, seq)
    assert summary["per_day_current"] == pytest.approx(1.0)
    assert summary["mean_minutes_current"] == pytest.approx((300 + 120 + 370 + 380) / 4)  # 292.5
