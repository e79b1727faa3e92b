"""The Regime page's input lines (noise against its adaptive threshold, the implied-volatility index) and the
regime momentum in the dynamics line, from constructed snapshot data."""
from __future__ import annotations

from datetime import UTC, datetime

from dash import html

from components import regime_ensemble_views as ev
from components import regime_inputs_views as iv
from components import regime_views as views
from components.ids import regime as ids


def _atr(**diag: object) -> list[dict[str, object]]:
    return [{"name": "ATRBasedIndicators", "active": True, "diagnostics": diag}]


def test_noise_line() -> None:
    assert iv.noise_text({"noise_level": 0.912, "noise_threshold": 0.874}) == \
        "noise 0.91 against threshold 0.87: above (noisy)"
    assert iv.noise_text({"noise_level": 0.5, "noise_threshold": 0.874}).endswith(": within")
    assert iv.noise_text({"noise_level": None}) == "noise: not measured yet"


def test_vix_line() -> None:
    assert iv.vix_text(_atr(vix=21.449, vix_used=True, vix_note="")) == "VIX 21.4 blended into volatility"
    assert iv.vix_text(_atr(vix=19.0, vix_used=False, vix_note="implied-volatility index stale (9 min old)")) == \
        "VIX not used: implied-volatility index stale (9 min old) (last 19.0)"
    assert iv.vix_text(_atr(vix=None, vix_used=False, vix_note="no implied-volatility index from the market source")) \
        == "VIX not used: no implied-volatility index from the market source"
    assert iv.vix_text([]) == "implied-volatility index: not reported"  # snapshots stored before the index existed


def test_current_card_shows_the_input_lines() -> None:
    latest = {"regime_name": "Neutral_Med_Vol", "confidence": 0.5, "time_in_regime_s": 60.0, "ts": datetime(2026, 1, 5,
              tzinfo=UTC), "record": {"noise_level": 0.8, "noise_threshold": 0.85},
              "modules": _atr(vix=18.0, vix_used=True, vix_note="")}
    body = html.Div(views.regime_card(latest, "#000000", "", "defaults", "")).to_plotly_json()
    text = str(body)
    assert "noise 0.80 against threshold 0.85: within" in text and "VIX 18.0 blended into volatility" in text
    assert ids.CURRENT_NOISE in text and ids.CURRENT_VIX in text


def test_dynamics_line_shows_momentum() -> None:
    verdict = {"status": "agree", "regime_id": 7, "ensemble_regime_id": 7, "confidence": 0.9,
               "dynamics": {"leave_within_bars": 2, "leave_probability": 0.1, "stability_score": 0.9, "stable": True,
                            "entropy": 0.2, "age_bars": 12, "momentum": 0.5, "momentum_bars": 20}}
    text = str(html.Div(ev.ensemble_card(verdict, {7: "Neutral_Med_Vol"}, None)).to_plotly_json())
    assert "entropy 20%; momentum +0.50 over 20 bars; age 12 bars" in text
    assert iv.momentum_text({}) == ""
