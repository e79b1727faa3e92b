"""Regime page statistics (segments, transition matrix, durations, comparison) and its figure/card
factories, on hand-made sequences whose answers can be checked by eye."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from dash import html

from components import regime_views as views
from engine.params import default_params
from engine.store.regime_queries import regime_catalogue_of
from webapp.regime_analysis import compare, duration_stats, segments, transition_matrix, transitions_per_day

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
CATALOGUE = regime_catalogue_of(default_params())
COLOURS = {r["regime_name"]: r["color"] for r in CATALOGUE}
ID = {r["regime_name"]: r["regime_id"] for r in CATALOGUE}


def seq(*runs: tuple[str, int], start: datetime = T0, minutes: int = 1) -> pd.DataFrame:
    """('Bullish_Low_Vol', 3), ... -> one row per bar."""
    names = [n for n, k in runs for _ in range(k)]
    return pd.DataFrame({"ts": [start + timedelta(minutes=minutes * i) for i in range(len(names))],
                         "regime_id": [ID[n] for n in names], "regime_name": names})


def test_segments_runs_lengths_and_open_last_run() -> None:
    s = segments(seq(("Bullish_Low_Vol", 3), ("Neutral_Low_Vol", 2), ("Bullish_Low_Vol", 4)))
    assert list(s["regime_name"]) == ["Bullish_Low_Vol", "Neutral_Low_Vol", "Bullish_Low_Vol"]
    assert list(s["bars"]) == [3, 2, 4]
    assert list(s["minutes"]) == [3.0, 2.0, 4.0]  # the last run ends one bar after its last row
    assert list(s["ongoing"]) == [False, False, True]
    assert s["end"].iloc[0] == s["start"].iloc[1]
    assert segments(seq()).empty


def test_transition_matrix_counts_changes_in_workbook_order() -> None:
    names = [r["regime_name"] for r in CATALOGUE]
    m = transition_matrix(seq(("Bullish_Low_Vol", 3), ("Neutral_Low_Vol", 2), ("Bullish_Low_Vol", 4),
                              ("Neutral_Low_Vol", 1)), names)
    assert list(m.index) == names
    assert m.loc["Bullish_Low_Vol", "Neutral_Low_Vol"] == 2
    assert m.loc["Neutral_Low_Vol", "Bullish_Low_Vol"] == 1
    assert int(m.to_numpy().sum()) == 3
    assert int(m.to_numpy().diagonal().sum()) == 0


def test_duration_stats_against_regime_parameters_leave_out_the_ongoing_run() -> None:
    # Bullish_Low_Vol expects 30 / 90 / 240 minutes in the reference workbook
    s = seq(("Bullish_Low_Vol", 20), ("Neutral_Low_Vol", 50), ("Bullish_Low_Vol", 300), ("Neutral_Low_Vol", 5))
    stats = duration_stats(segments(s), CATALOGUE).set_index("regime_name")
    bull = stats.loc["Bullish_Low_Vol"]
    assert (bull["expected_min"], bull["expected_typical"], bull["expected_max"]) == (30.0, 90.0, 240.0)
    assert bull["runs"] == 2 and bull["shortest"] == 20.0 and bull["longest"] == 300.0
    assert bull["below_min_pct"] == pytest.approx(50.0) and bull["above_max_pct"] == pytest.approx(50.0)
    assert stats.loc["Neutral_Low_Vol", "runs"] == 1  # the last (ongoing) 5-minute run is not counted
    assert stats.loc["Sideways_High_Vol", "runs"] == 0 and pd.isna(stats.loc["Sideways_High_Vol", "mean"])


def test_compare_agreement_transitions_and_largest_changes() -> None:
    cur = seq(("Bullish_Low_Vol", 6), ("Neutral_Low_Vol", 4))
    new = seq(("Bullish_Low_Vol", 8), ("Neutral_Low_Vol", 2))
    out = compare(cur, new)
    assert out["bars"] == 10 and out["bars_changed"] == 2 and out["agreement_pct"] == pytest.approx(80.0)
    assert out["transitions_current"] == out["transitions_candidate"] == 1
    assert out["top_changes"] == [{"from": "Neutral_Low_Vol", "to": "Bullish_Low_Vol", "bars": 2}]
    assert compare(cur, cur)["agreement_pct"] == 100.0


def test_transitions_per_day_scales_with_span() -> None:
    day = seq(("Bullish_Low_Vol", 720), ("Neutral_Low_Vol", 720))  # one change in 24 hours
    assert transitions_per_day(day) == pytest.approx(1.0)
    assert transitions_per_day(seq(("Bullish_Low_Vol", 1))) is None


MODULES = [
    {"name": "GreekSentimentAnalysis", "score": 0.5, "weight": 0.4, "contribution": 0.2, "active": True, "reason": ""},
    {"name": "ATRBasedIndicators", "score": -0.5, "weight": 0.6, "contribution": -0.3, "active": True, "reason": ""},
    {"name": "CorrelationMatrix", "score": 0.0, "weight": 0.0, "contribution": 0.0, "active": False,
     "reason": "a single asset: no correlation"},
]


def test_contributions_figure_signs_colours_and_inactive_reason() -> None:
    fig = views.contributions_figure(MODULES)
    bar = fig.data[0]
    assert list(bar.x) == [0.2, -0.3, 0.0]
    assert list(bar.marker.color) == ["#2e7d32", "#c62828", views.INACTIVE_COLOUR]
    assert bar.text[2] == "inactive" and "single asset" in bar.hovertext[2]
    assert list(bar.text[:2]) == ["+0.50 × 0.40 = +0.200", "-0.50 × 0.60 = -0.300"]  # score × weight on the bar
    assert "0.500 × weight 0.500" not in bar.hovertext[0] and "× weight 0.400 = +0.200" in bar.hovertext[0]
    listed = views.inactive_modules(MODULES)
    assert "CorrelationMatrix: a single asset: no correlation" in str(listed.to_plotly_json())
    assert "All modules active" in str(views.inactive_modules(MODULES[:2]).children)


def test_regime_card_shows_name_confidence_age_and_versions() -> None:
    latest = {"regime_name": "Bullish_Low_Vol", "confidence": 0.734, "time_in_regime_s": 7500.0,
              "trend_class": "Bullish", "trend_value": 0.004, "volatility_class": "Low", "volatility_value": 0.11,
              "raw_score": 0.31, "transition_rule": "TR001", "ts": T0}
    body = html.Div(views.regime_card(latest, "#7CFC00", "slow grind up", "version 3", "same version"))
    text = str(body.to_plotly_json())
    for expected in ("Bullish_Low_Vol", "73%", "2 h 05 min", "version 3", "entered by TR001", "#7CFC00",
                     "11.0%/yr"):
        assert expected in text


def test_minutes_text() -> None:
    assert views.minutes_text(45) == "45 min"
    assert views.minutes_text(125) == "2 h 05 min"
    assert views.minutes_text(3 * 1440 + 240) == "3 d 4 h"
    assert views.minutes_text(None) == "—"


def test_bands_and_timeline_use_workbook_colours() -> None:
    s = segments(seq(("Bullish_Low_Vol", 3), ("Neutral_Low_Vol", 2)))
    b = views.bands(s, COLOURS)
    assert [x["color"] for x in b] == [COLOURS["Bullish_Low_Vol"], COLOURS["Neutral_Low_Vol"]]
    fig = views.timeline_figure([("live", s), ("replay", s)], COLOURS, "t")
    assert {t.name for t in fig.data} == {"Bullish_Low_Vol", "Neutral_Low_Vol"}
    assert sum(t.showlegend for t in fig.data) == 2  # one legend entry per regime, not per lane
    first = next(t for t in fig.data if t.name == "Bullish_Low_Vol")
    assert first.marker.color == COLOURS["Bullish_Low_Vol"] and list(first.x) == [180_000.0]  # 3 min in ms


def test_transition_heatmap_keeps_only_regimes_seen() -> None:
    names = [r["regime_name"] for r in CATALOGUE]
    m = transition_matrix(seq(("Bullish_Low_Vol", 3), ("Neutral_Low_Vol", 2), ("Bullish_Low_Vol", 1)), names)
    fig = views.transition_heatmap(m)
    assert list(fig.data[0].x) == ["Bullish_Low_Vol", "Neutral_Low_Vol"]
    assert fig.data[0].z.tolist() == [[0, 1], [1, 0]]
    assert "(2)" in fig.layout.title.text
    empty = views.transition_heatmap(transition_matrix(seq(("Bullish_Low_Vol", 3)), names))
    assert "no regime change" in empty.layout.annotations[0].text


def test_duration_figure_and_table() -> None:
    s = seq(("Bullish_Low_Vol", 20), ("Neutral_Low_Vol", 50), ("Bullish_Low_Vol", 3))
    stats = duration_stats(segments(s), CATALOGUE)
    fig = views.duration_figure(stats)
    band = fig.data[0]
    i = list(band.y).index("Bullish_Low_Vol")
    assert band.base[i] == 30.0 and band.x[i] == 210.0  # expected 30..240 minutes
    observed = fig.data[2]
    assert list(observed.y) == ["Bullish_Low_Vol", "Neutral_Low_Vol"] or list(observed.y) == ["Neutral_Low_Vol",
                                                                                             "Bullish_Low_Vol"]
    table = str(views.duration_table(stats).to_plotly_json())
    assert "Bullish_Low_Vol" in table and "20 min" in table and "30 / 90 / 240" in table
    assert "Sideways_High_Vol" not in table


def test_whatif_factories() -> None:
    from components import regime_whatif_views as wv
    from engine.params import load_schema

    spec = load_schema().sheet("StabilityConfiguration").section("main").field("hysteresis_buffer")
    row = str(wv.knob_row("StabilityConfiguration|main|hysteresis_buffer", "hysteresis_buffer", spec, 0.05,
                          "a number from 0.02 to 0.15 (ratio)").to_plotly_json())
    assert "hysteresis buffer (ratio)" in row and "placeholder='0.02–0.15'" in row
    # a text box: a number box would send nothing for "abc" or an out-of-range value (the server checks it)
    assert "type='text'" in row and "inputMode='decimal'" in row and "regime-knob-error" in row
    assert "title='a number from 0.02 to 0.15 (ratio)'" in row
    summary = {"bars": 10, "agreement_pct": 80.0, "bars_changed": 2, "transitions_current": 1,
               "transitions_candidate": 3, "per_day_current": 1.0, "per_day_candidate": 3.0,
               "mean_minutes_current": 5.0, "mean_minutes_candidate": 2.5, "final_current": "Bullish_Low_Vol",
               "final_candidate": "Neutral_Low_Vol", "top_changes": [{"from": "A", "to": "B", "bars": 2}]}
    text = str(wv.whatif_summary(summary).to_plotly_json())
    assert "80.0%" in text and "2 bars change" in text and "Neutral_Low_Vol" in text and "Largest changes" in text
    edits = str(wv.edits_table([{"label": "StabilityConfiguration · hysteresis_buffer", "old": 0.05, "new": 0.1}],
                               "x.xlsx").to_plotly_json())
    assert "over the uploaded x.xlsx" in edits and "0.05" in edits and "0.1" in edits
    assert "no pending edits" in str(wv.edits_table([]).to_plotly_json())
    fix = str(wv.edits_table([], "", ["hysteresis buffer: 'abc' is not a number"]).to_plotly_json())
    assert "1 knob value(s) to fix before a run" in fix and "'abc' is not a number" in fix
    assert "regime-whatif-knob-problems" in fix and "regime-whatif-knob-problems" not in edits
    assert "2 value(s) differ" in str(wv.upload_status("x.xlsx", 2).to_plotly_json())
    assert "regime-whatif-upload-error" in str(wv.upload_status("x.xlsx", 0, "refused").to_plotly_json())
