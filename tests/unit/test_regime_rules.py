"""Formation, weighting and the parsers of the workbook's small text languages."""
from __future__ import annotations

import pytest

from engine.params import default_params
from engine.regime.formation import Formation
from engine.regime.paramtext import (
    condition_threshold,
    minutes_threshold,
    name_matches,
    parse_adjustments,
    parse_condition,
    parse_param_string,
)
from engine.regime.testing import edited
from engine.regime.weighting import Weighting, compile_condition, condition_holds

PS = default_params()


def test_param_string_and_adjustment_parsers() -> None:
    assert parse_param_string("lookback=50,min_correlation=0.7,assets=NIFTY,BANK,IT") == {
        "lookback": 50.0, "min_correlation": 0.7, "assets": ["NIFTY", "BANK", "IT"]}
    assert parse_param_string("timeframes=1,5;consensus_method=weighted")["timeframes"] == [1.0, 5.0]
    assert parse_adjustments("+20% ATR, +15% IV", "ATRIndicators,IVSurface") == {"ATRIndicators": 0.2, "IVSurface": 0.15}
    assert parse_adjustments("+25% Volume, -15% OIPA", "VolumeProfile,TrendingOIPA")["TrendingOIPA"] == pytest.approx(-0.15)
    assert condition_threshold("High Volatility (ATR>80%ile)", "ATR") == 80.0
    assert minutes_threshold("data_age>2min") == 2.0


def test_formation_conditions() -> None:
    c = parse_condition("abs(trend_slope)<0.003")
    assert c.holds({"trend_slope": -0.002}) and not c.holds({"trend_slope": 0.004})
    r = parse_condition("atr_percentile:30-70")
    assert r.holds({"atr_percentile": 50}) and not r.holds({"atr_percentile": 80})
    assert parse_condition("price_in_range:0.95").holds({"price_in_range": 0.97})
    assert parse_condition("volume_profile:balanced").holds({"volume_profile": "balanced"})
    assert parse_condition("greek_sentiment>0.7").holds({}) is None  # unavailable, not false
    assert name_matches("Bullish_*", "Bullish_Low_Vol") and not name_matches("Bullish_*", "Strong_Bullish_Low_Vol")
    assert name_matches("*_Low_Vol", "Neutral_Low_Vol") and name_matches("ALL", "x") and not name_matches("NONE", "x")


@pytest.mark.parametrize("slope,adx,expected", [
    (0.02, 35, "Strong_Bullish"), (0.02, 25, "Bullish"), (0.02, 10, "Neutral"), (0.005, 22, "Bullish"),
    (-0.02, 35, "Strong_Bearish"), (-0.005, 22, "Bearish"), (0.001, 10, "Neutral"), (0.0, 0, "Neutral"),
])
def test_trend_classes_from_thresholds(slope: float, adx: float, expected: str) -> None:
    assert Formation(PS).trend_class(slope, adx, {}).name == expected


def test_sideways_needs_its_formation_rule() -> None:
    f = Formation(PS)
    ranging = {"price_in_range": 0.99, "trend_strength": 0.1, "volume_profile": "balanced"}
    trending = {"price_in_range": 0.5, "trend_strength": 0.8, "volume_profile": "above_value"}
    assert f.trend_class(0.001, 18, ranging).name == "Sideways"
    assert f.trend_class(0.001, 18, trending).name == "Neutral"


def test_volatility_classes_regimes_and_threshold_parameter() -> None:
    f = Formation(PS)
    assert [f.vol_class(v).name for v in (0.05, 0.18, 0.4)] == ["Low", "Medium", "High"]
    r = f.regime(f.trend_by_name["Bullish"], f.vol_by_name["High"])
    assert (r.regime_id, r.name, r.color) == (3, "Bullish_High_Vol", "#ADFF2F")
    assert f.vol_class_by_percentile(85).name == "High"
    f2 = Formation(edited(PS, cells={("RegimeClassification", "volatility_thresholds", 0, "max_value"): 0.2,
                                     ("RegimeClassification", "volatility_thresholds", 1, "min_value"): 0.2}))
    assert f2.vol_class(0.18).name == "Low"


def test_weights_redistribute_over_active_modules_and_rules_fire() -> None:
    w = Weighting(PS)
    mods = [("GreekSentimentAnalysis", "GreekSentiment", 0.2, False), ("ATRBasedIndicators", "ATRIndicators", 0.1, True),
            ("MultiTimeframeAnalysis", "MultiTimeframe", 0.15, True), ("VolumeProfileAnalysis", "VolumeProfile", 0.08, True)]
    calm, fired = w.effective(mods, {"atr_percentile": 50, "adx": 10}, 0.0)
    assert fired == [] and calm["GreekSentimentAnalysis"] == 0.0
    assert sum(calm.values()) == pytest.approx(1.0)
    assert calm["ATRBasedIndicators"] == pytest.approx(0.1 / 0.33)
    hot, fired = w.effective(mods, {"atr_percentile": 90, "adx": 10}, 1.0)
    assert fired == ["High Volatility (ATR>80%ile)"]
    assert hot["ATRBasedIndicators"] > calm["ATRBasedIndicators"]  # x1.5 vol adjust x1.2 rule, within MaxWeight
    assert condition_holds(compile_condition("Trending Market (ADX>25)"), {"adx": 30})
    assert not condition_holds(compile_condition("Trending Market (ADX>25)"), {"adx": 20})


def test_weight_bounds_parameter() -> None:
    capped = Weighting(edited(PS, cells={("DynamicWeightageConfig", "main", 4, "max_weight"): 0.12}))
    mods = [("ATRBasedIndicators", "ATRIndicators", 0.1, True), ("MultiTimeframeAnalysis", "MultiTimeframe", 0.15, True)]
    w, _ = capped.effective(mods, {}, 1.0)  # full high-vol adjustment: ATR 0.1 x 1.5 = 0.15 -> capped at 0.12
    assert w["ATRBasedIndicators"] == pytest.approx(0.12 / (0.12 + 0.15 * 0.9))
