"""The PerformanceMetrics scorecard on a constructed 40-bar history with hand-computed values."""
from __future__ import annotations

import pandas as pd
import pytest

from engine.params.paramset import default_params
from engine.tuning.scorecard import grade, scorecard, status


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
