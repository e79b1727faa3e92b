"""The Regime page's ensemble card and reliability diagram, from constructed data."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from dash import html

from components import regime_ensemble_views as ev
from engine.params import default_params
from webapp.regime_calibration import reliability_report


def test_card_says_uncertain_and_shows_votes_and_outlook() -> None:
    verdict = {"status": "uncertain", "regime_id": None, "ensemble_regime_id": 7, "confidence": 0.41,
               "calibrated_confidence": 0.6, "calibration": "isotonic", "disagreement": 0.4, "uncertainty": 0.5,
               "weights": {"hmm": 0.35, "gmm": 0.25}, "votes": {"hmm": 7, "gmm": 16}, "reason": "confidence 41% < 85%",
               "dynamics": {"leave_within_bars": 2, "leave_probability": 0.1, "stability_score": 0.9, "stable": True,
                            "entropy": 0.2, "age_bars": 12, "expected_bars": 40.0}}
    text = str(html.Div(ev.ensemble_card(verdict, {7: "Neutral_Med_Vol", 16: "Sideways_Med_Vol"}, None)).to_plotly_json())
    for want in ("uncertain", "no regime (uncertain)", "ensemble says Neutral_Med_Vol at 41%", "calibrated 60%",
                 "hmm Neutral_Med_Vol, gmm Sideways_Med_Vol", "leaving within 2 bars: 10%", "of ~40 expected"):
        assert want in text
    assert "no ensemble model fitted yet" in str(ev.ensemble_card(None, {}, None).to_plotly_json())


def test_reliability_report_is_out_of_sample_and_improves_an_overconfident_history() -> None:
    rng = np.random.default_rng(2)
    n = 3000
    # runs of random length: a confident call (0.95) holds only as often as the runs allow
    labels = np.repeat(rng.integers(0, 18, n), rng.integers(2, 12, n))[:n]
    conf = rng.uniform(0.7, 1.0, n)
    ts = [datetime(2026, 1, 5, tzinfo=UTC) + timedelta(minutes=k) for k in range(n)]
    hist = pd.DataFrame({"ts": ts, "regime_id": labels, "confidence": conf})
    rep = reliability_report(hist, default_params())
    assert rep is not None and rep["n_fit"] + rep["n_test"] == n - rep["horizon"]
    assert rep["brier_calibrated"] < rep["brier_raw"]
    fig = ev.reliability_figure(rep)
    assert len(fig.data) == 3 and "Brier" in fig.data[1].name
    assert reliability_report(hist.iloc[:10], default_params()) is None
