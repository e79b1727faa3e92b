"""Spells, transition matrix and duration statistics of a classified history."""
from __future__ import annotations

import pandas as pd

from engine.params import default_params
from engine.regime.stats import duration_stats, spells, transition_matrix

PS = default_params()


def _records() -> pd.DataFrame:
    names = ["Warming_Up"] * 2 + ["Neutral_Med_Vol"] * 40 + ["Bullish_Med_Vol"] * 35 + ["Neutral_Med_Vol"] * 30 \
        + ["Bullish_Med_Vol"] * 5
    tir, k, prev = [], 0, None
    for n in names:
        k = 0 if n != prev else k + 1
        tir.append(float(k))
        prev = n
    ts = pd.date_range("2026-01-05 03:45", periods=len(names), freq="min", tz="UTC")
    return pd.DataFrame({"timestamp": ts, "regime_name": names, "time_in_regime_minutes": tir,
                         "warmup": [n == "Warming_Up" for n in names]})


def test_spells_and_matrix() -> None:
    sp = spells(_records())
    assert sp["regime_name"].tolist() == ["Neutral_Med_Vol", "Bullish_Med_Vol", "Neutral_Med_Vol", "Bullish_Med_Vol"]
    assert sp["minutes"].tolist() == [40.0, 35.0, 30.0, 5.0]
    m = transition_matrix(_records(), PS)
    assert m.loc["Neutral_Med_Vol", "Bullish_Med_Vol"] == 2 and m.loc["Bullish_Med_Vol", "Neutral_Med_Vol"] == 1
    assert m.to_numpy().sum() == 3 and m.index[0] == "Strong_Bullish_High_Vol"  # priority order


def test_duration_stats_against_regime_parameters() -> None:
    d = duration_stats(_records(), PS).set_index("regime_name")
    neutral = d.loc["Neutral_Med_Vol"]
    assert neutral["spells"] == 2 and neutral["mean_minutes"] == 35.0
    assert neutral["min_duration"] == 25.0 and neutral["share_below_min"] == 0.0
    assert d.loc["Bullish_Med_Vol", "spells"] == 1  # the open last spell is excluded
    assert d.loc["Bullish_Med_Vol", "share_below_min"] == 0.0
