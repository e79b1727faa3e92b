"""The module contribution bars and the card's score must not contradict: the bars sum to the unsmoothed module
score, the stored raw_score is the smoothed, persistence-gated one (engine/regime/classifier.py d_raw -> d_s), and
the card and the figure show both, named."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dash import html

from components import regime_views as views

# 0.5 x 0.6 = +0.30 and -0.25 x 0.4 = -0.10: the bars sum to +0.20; the inactive module's stale number is left out
MODULES = [
    {"name": "ATRBasedIndicators", "score": 0.5, "weight": 0.6, "contribution": 0.3, "active": True},
    {"name": "MultiTimeframeAnalysis", "score": -0.25, "weight": 0.4, "contribution": -0.1, "active": True},
    {"name": "IVSurfaceAnalysis", "score": 0.7, "weight": 1.0, "contribution": 0.7, "active": False,
     "reason": "no option chain"},
]


def _latest(raw: float) -> dict[str, Any]:
    return {"regime_name": "Neutral_Med_Vol", "confidence": 0.5, "time_in_regime_s": 600.0, "trend_class": "Neutral",
            "trend_value": 0.0, "volatility_class": "Medium", "volatility_value": 0.15, "raw_score": raw,
            "transition_rule": None, "ts": datetime(2026, 1, 5, 15, tzinfo=UTC), "modules": MODULES}


def _text(raw: float) -> str:
    return str(html.Div(views.regime_card(_latest(raw), "#000000", "", "defaults", "")).to_plotly_json())


def test_card_shows_the_smoothed_score_beside_the_module_sum_and_why_they_differ() -> None:
    text = _text(-0.05)  # opposite sign to the bars' +0.20
    assert "smoothed score -0.05" in text and "module sum +0.20" in text
    assert "raw score" not in text
    assert "The module bars sum to +0.200, this bar's unsmoothed score. The smoothed score -0.050" in text
    same = _text(0.2)  # no smoothing, direction persistent: one number, no note
    assert "smoothed score +0.20" in same and "module sum +0.20" in same and "The module bars sum" not in same


def test_figure_title_gives_the_bars_sum_and_the_smoothed_score() -> None:
    fig = views.contributions_figure(MODULES, -0.05)
    assert fig.layout.title.text == "Module contributions (score × weight): sum +0.200, smoothed score -0.050"
    assert list(fig.data[0].x) == [0.3, -0.1, 0.0]  # the bars the title adds up (inactive: a 0 stub)
    assert fig.layout.xaxis.title.text == "contribution to the unsmoothed module score (sum of the bars)"
    assert views.contributions_figure(MODULES).layout.title.text == "Module contributions (score × weight): sum +0.200"
