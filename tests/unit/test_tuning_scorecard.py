"""The PerformanceMetrics scorecard on a constructed 40-bar history with hand-computed values."""
from __future__ import annotations

import pandas as pd
import pytest

from engine.params.paramset import default_params
from engine.tuning.scorecard import band_grade, band_status, grade, scorecard, status


def _history() -> pd.DataFrame:
    # regimes A (0-9, up), B (10-12, down: a 3-bar flicker), C (13-29), D (30-39): transitions at 10, 13, 30
    names = ["A"] * 10 + ["B"] * 3 + ["C"] * 17 + ["D"] * 10
    trend = ["up"] * 10 + ["down"] * 3 + ["sideways"] * 27
    close = [100.0 + i for i in range(21)] + [120.0] * 19
    return pd.DataFrame({
        "timestamp": pd.date_range("2026-01-05 14:30", periods=40, freq="min", tz="UTC"),
        "regime_name": names, "trend": trend, "vol": ["low"] * 40,
        "transition": [i in (10, 13, 30) for i in range(40)], "confidence": [0.6] * 40, "close": close,
        "true_trend": ["up"] * 10 + ["sideways"] * 30, "true_vol": ["low"] * 40})


def test_each_metric_matches_the_hand_computed_value() -> None:
    card = scorecard(default_params(), _history(), computation_ms=120.0, memory_mb=1500.0)
    expected = {  # value, grade, status (workbook levels target/acceptable/critical)
        "regime_accuracy": (37 / 40, 1.0, "target"),  # bars 10-12 say down, truth sideways
        "transition_timing": (1.0, 1.0, "target"),  # the one true change (bar 10) detected at bar 10
        "direction_accuracy": (10 / 13, 1.0, "target"),  # up bars rise 15 bars later; the down flicker does not fall
        "false_positive_rate": (1 / 3, (1 / 3 - 0.35) / (0.15 - 0.35), "below acceptable"),  # bar 30: 20 bars late
        "regime_persistence": (37 / 40, 1.0, "target"),
        "noise_rejection": (0.75, 0.5, "acceptable"),  # runs 10, 3, 17, 10: one under 5 bars
        "daily_transitions": (3.0, 1.0, "target"),
        "regime_diversity": (4 / 18, (4 / 18 - 0.15) / 0.2, "below acceptable"),
        "response_time": (0.0, 1.0, "target"),
        "computation_time": (120.0, 0.95, "acceptable"),
        "memory_usage": (1500.0, 1 / 3, "below acceptable"),
        "prediction_confidence": (0.6, 0.5, "acceptable"),
    }
    got = {m.metric: m for m in card.metrics}
    assert set(got) == set(expected)
    for name, (value, g, st) in expected.items():
        assert got[name].value == pytest.approx(value), name
        assert got[name].grade == pytest.approx(g), name
        assert got[name].status == st, name
    weights = {r.metric: r.weight for r in default_params().table("PerformanceMetrics")}
    overall = sum(weights[n] * e[1] for n, e in expected.items()) / sum(weights.values())
    assert card.overall == pytest.approx(overall)


def test_without_the_true_path_truth_metrics_are_not_measured_and_leave_the_score() -> None:
    h = _history().drop(columns=["true_trend", "true_vol"])
    card = scorecard(default_params(), h)
    missing = {m.metric for m in card.metrics if m.value is None}
    assert missing == {"regime_accuracy", "transition_timing", "false_positive_rate", "response_time",
                       "computation_time", "memory_usage"}
    assert all(m.status == "not measured" and m.reason for m in card.metrics if m.value is None)
    measured = [m for m in card.metrics if m.value is not None]
    assert card.overall == pytest.approx(sum(m.weight * (m.grade or 0) for m in measured) /
                                         sum(m.weight for m in measured))


@pytest.mark.parametrize(("value", "target", "acceptable", "critical", "st"), [
    (0.7, 0.75, 0.65, 0.55, "acceptable"), (0.55, 0.75, 0.65, 0.55, "critical"), (0.3, 0.15, 0.25, 0.35,
                                                                                 "below acceptable"),
    (0.4, 0.15, 0.25, 0.35, "critical"), (0.1, 0.15, 0.25, 0.35, "target")])
def test_status_in_both_directions(value: float, target: float, acceptable: float, critical: float,
                                   st: str) -> None:
    assert status(value, target, acceptable, critical) == st
    assert 0.0 <= grade(value, target, critical) <= 1.0


# daily_transitions, workbook levels target 2.5, acceptable 1.5, critical 0.5: acceptable distance A = 1,
# critical distance C = 2; grade 1 for |v - 2.5| <= 1, (2 - d) / (2 - 1) between, 0 from d = 2 on
@pytest.mark.parametrize(("value", "g", "st", "reason"), [
    (2.5, 1.0, "target", ""),  # d = 0
    (4.0, 0.5, "outside acceptable", "above the band 1.5–3.5"),  # d = 1.5: (2 - 1.5) / 1; too many is not target
    (1.0, 0.5, "outside acceptable", "below the band 1.5–3.5"),  # d = 1.5 on the other side: the same grade
    (6.0, 0.0, "critical", "above the band 1.5–3.5"),  # d = 3.5 >= 2
    (3.5, 1.0, "target", ""),  # the band's edge (the engine's transitions_band high)
    (0.5, 0.0, "critical", "below the band 1.5–3.5"),  # d = 2: at the critical distance
    (3.0, 1.0, "target", ""),
    (4.25, 0.25, "outside acceptable", "above the band 1.5–3.5"),  # d = 1.75: 2 - 1.75
])
def test_daily_transitions_is_graded_by_distance_from_the_target_on_both_sides(
        value: float, g: float, st: str, reason: str) -> None:
    assert band_grade(value, 2.5, 1.5, 0.5) == pytest.approx(g)
    assert band_status(value, 2.5, 1.5, 0.5) == (st, reason)
    days = 4  # `value` transitions per day over 4 days: round the count to a whole number of transitions
    count = round(value * days)
    assert count == value * days
    per_day = 390
    ts = pd.date_range("2026-01-05 14:30", periods=per_day, freq="min", tz="UTC")
    stamps = ts.append([ts + pd.Timedelta(days=d) for d in range(1, days)])
    flags = [False] * len(stamps)
    for i in range(count):
        flags[10 + i * (len(stamps) - 20) // max(count, 1)] = True
    names, current = [], 0
    for f in flags:
        current += f
        names.append(f"R{current}")
    h = pd.DataFrame({"timestamp": stamps, "regime_name": names, "trend": ["up"] * len(stamps),
                      "vol": ["low"] * len(stamps), "transition": flags, "confidence": [0.7] * len(stamps),
                      "close": [100.0] * len(stamps)})
    m = next(x for x in scorecard(default_params(), h).metrics if x.metric == "daily_transitions")
    assert (m.value, m.grade, m.status, m.reason, m.band, m.unit) == (pytest.approx(value), pytest.approx(g), st,
                                                                      reason, True, "per day")


def test_band_grade_with_the_critical_distance_inside_the_acceptable_one_is_all_or_nothing() -> None:
    assert band_grade(2.0, 2.5, 1.0, 2.0) == 1.0  # A = 1.5 >= C = 0.5: inside A still 1
    assert band_grade(0.9, 2.5, 1.0, 2.0) == 0.0


def test_units_of_the_time_and_memory_metrics() -> None:
    card = scorecard(default_params(), _history(), computation_ms=120.0, memory_mb=1500.0)
    units = {m.metric: m.unit for m in card.metrics}
    assert units["response_time"] == "min" and units["computation_time"] == "ms" and units["memory_usage"] == "MB"
    assert units["regime_accuracy"] == "" and units["daily_transitions"] == "per day"
    assert [m.metric for m in card.metrics if m.band] == ["daily_transitions"]


def test_the_scorecard_table_shows_units_and_the_band_of_a_band_metric() -> None:
    from datetime import UTC, datetime

    from webapp.tuning_views import scorecard_table

    card = scorecard(default_params(), _history(), computation_ms=120.0, memory_mb=1500.0)
    text = str(scorecard_table({"ts": datetime(2026, 1, 5, tzinfo=UTC), "overall": card.overall,
                                "metrics": card.rows()}).to_plotly_json())
    assert "'Unit'" in text and "'min'" in text and "'ms'" in text and "'MB'" in text and "'per day'" in text
    assert "'1.5–3.5'" in text and "'≤ 0.5 or ≥ 4.5'" in text  # daily_transitions: 2.5 ± 1, critical 2.5 ± 2
    # a card stored before units were recorded still shows them (from the metric name)
    old = [{k: v for k, v in m.items() if k not in ("unit", "band")} for m in card.rows()]
    assert "'ms'" in str(scorecard_table({"ts": datetime(2026, 1, 5, tzinfo=UTC), "overall": None,
                                          "metrics": old}).to_plotly_json())
