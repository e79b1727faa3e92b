"""The current-regime card prints the bar's classes with their number and band, and says when the
adopted regime holds other classes (the stability rules keep it)."""
from __future__ import annotations

from datetime import UTC, datetime

from dash import html

from components import regime_views as views


def test_card_shows_decided_classes_bands_and_held_regime() -> None:
    latest = {"regime_name": "Strong_Bullish_Low_Vol", "confidence": 0.27, "time_in_regime_s": 600.0,
              "trend_class": "Neutral", "trend_value": -0.0006, "volatility_class": "Low", "volatility_value": 0.1,
              "raw_score": -0.1, "transition_rule": None, "ts": datetime(2026, 1, 5, 15, tzinfo=UTC),
              "record": {"blocked_by": "minimum duration 30 min not reached"},
              "classes": {"trend": {"class": "Neutral", "value": -0.0006, "adx": 18.0, "lo": -0.003, "hi": 0.003,
                                    "min_adx": 0.0, "basis": "threshold", "plain_class": "Neutral"},
                          "volatility": {"class": "Low", "value": 0.1, "lo": 0.0, "hi": 0.12, "basis": "threshold"}}}
    text = str(html.Div(views.regime_card(latest, "#000000", "", "defaults", "",
                                          ("Strong_Bullish", "Low"))).to_plotly_json())
    assert "trend Neutral (-0.0006)" in text
    assert "Neutral: -0.0006, band -0.0030 … 0.0030" in text
    assert "Low: 10.0%/yr, band 0.0%/yr … 12.0%/yr" in text
    assert "The regime keeps trend Strong_Bullish: minimum duration 30 min not reached." in text
    same = str(html.Div(views.regime_card(latest, "#000000", "", "defaults", "", ("Neutral", "Low"))).to_plotly_json())
    assert "The regime keeps" not in same
