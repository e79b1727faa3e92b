"""The validator accepts exactly the conditions, actions and adjustments the regime engine understands (audit 6, 11,
13): a text the engine would drop or misread is refused with the cell and the accepted forms. Hand-written cases."""
from __future__ import annotations

import io

import openpyxl
import pytest

from engine.params.catalog import apply_edits
from engine.params.paramset import ParamSet, default_params
from engine.params.typed import Parameters
from engine.regime.config import Validation
from engine.regime.formation import Formation
from engine.regime.paramtext import minutes_threshold, parse_adjustments
from engine.regime.weighting import Weighting

BASE = default_params()
ADJ = ("DynamicWeightageConfig", "dynamic_weight_adjustment_rules", 0)


def _edit(cells: dict[tuple[str, str, int, str], object]) -> tuple[ParamSet | None, list[str]]:
    r = apply_edits(BASE, cells=cells)
    return r.paramset, [str(i) for i in r.issues]


@pytest.mark.parametrize("text", ["Trend_Slope>0.015", "trend_slope2>0.015", "trend_slope==0.015", "trend_slope=0.015",
                                  "trend_slope!=0", "trend_slope>1.5%", "trend_slope>1min", "trend_slope",
                                  "trend_slop>0.015"])
def test_a_formation_condition_the_engine_would_drop_is_refused(text: str) -> None:
    ps, issues = _edit({("RegimeFormationConfig", "main", 0, "condition1"): text})
    assert ps is None
    assert any(i.startswith("RegimeFormationConfig!C4:") and repr(text) in i and "abs(name)<number" in i
               for i in issues), issues


@pytest.mark.parametrize("text,want", [("trend_slope>0.02", ("trend_slope", ">", 0.02, None, False)),
                                       ("abs(trend_slope)<=0.004", ("trend_slope", "<=", 0.004, None, True)),
                                       ("atr_percentile:20-80", ("atr_percentile", "range", 20.0, 80.0, False)),
                                       ("price_in_range:0.9", ("price_in_range", "min", 0.9, None, False)),
                                       ("volume_profile:balanced", ("volume_profile", "eq", "balanced", None, False))])
def test_an_accepted_formation_condition_is_kept_by_the_engine(text: str, want: tuple[object, ...]) -> None:
    ps, issues = _edit({("RegimeFormationConfig", "main", 0, "condition1"): text})
    assert ps is not None, issues
    conds = Formation(ps).rules[0].conditions
    assert len(conds) == 3
    c = conds[0]
    assert (c.var, c.op, c.a, c.b, c.absolute) == want


@pytest.mark.parametrize("text", ["data_gaps>5", "data_gaps>300%", "data_gaps:5", "data_gaps<"])
def test_a_gap_check_without_minutes_is_refused(text: str) -> None:
    ps, issues = _edit({("ValidationRules", "main", 0, "condition"): text})
    assert ps is None
    assert any(i.startswith("ValidationRules!C2:") and "data_gaps>5min" in i for i in issues), issues


@pytest.mark.parametrize("row,text", [(0, "data_gaps>=7min"), (0, "Data_Gaps>7min"), (1, "data_age>7min")])
def test_a_minutes_check_is_read_by_the_engine(row: int, text: str) -> None:
    ps, issues = _edit({("ValidationRules", "main", row, "condition"): text})
    assert ps is not None, issues
    action = ("halt_regime_detection", "use_cached_regime")[row]
    assert minutes_threshold(Validation(ps).condition(action) or "") == 7.0


def test_an_outlier_check_needs_a_number() -> None:
    ps, issues = _edit({("ValidationRules", "main", 2, "condition"): "price_zscore_high"})
    assert ps is None and any(i.startswith("ValidationRules!C4:") and "price_zscore>4" in i for i in issues), issues


@pytest.mark.parametrize("row,typed,action", [(0, "Halt_Regime_Detection", "halt_regime_detection"),
                                              (1, "USE_CACHED_REGIME", "use_cached_regime"),
                                              (2, "Filter_Outlier", "filter_outlier")])
def test_an_action_in_another_case_is_stored_as_the_engine_spells_it(row: int, typed: str, action: str) -> None:
    ps, issues = _edit({("ValidationRules", "main", row, "action"): typed})
    assert ps is not None, issues
    assert Parameters(ps).validation_rules.rows[row].action == action
    assert Validation(ps).enabled(action)


@pytest.mark.parametrize("typed", ["halt_regime_detecton", "halt regime detection", "stop_trading"])
def test_an_action_the_engine_does_not_implement_is_refused(typed: str) -> None:
    ps, issues = _edit({("ValidationRules", "main", 0, "action"): typed})
    assert ps is None
    assert any(i.startswith("ValidationRules!D2:") and "halt_regime_detection" in i for i in issues), issues


def test_two_rows_with_one_action_are_refused() -> None:
    ps, issues = _edit({("ValidationRules", "main", 1, "action"): "halt_regime_detection"})
    assert ps is None and any("ValidationRules!D3:" in i and "appears twice" in i for i in issues), issues


def test_adjustments_go_to_the_component_they_name() -> None:
    ps, issues = _edit({ADJ + ("adjustment",): "+15% IV, +20% ATR"})
    assert ps is not None, issues
    assert Weighting(ps).rules[0][1] == {"ATRIndicators": 0.20, "IVSurface": 0.15}
    assert parse_adjustments("-15% OIPA, +25% Volume", "VolumeProfile,TrendingOIPA") == {
        "VolumeProfile": 0.25, "TrendingOIPA": -0.15}


def test_the_default_adjustment_rules_are_read_as_before() -> None:
    """By position and by name agree on the shipped rules (the reference workbook's): unchanged weights."""
    want = [{"ATRIndicators": 0.20, "IVSurface": 0.15}, {"TrendingOIPA": 0.25, "MultiTimeframe": 0.20},
            {"GreekSentiment": 0.30, "StraddleAnalysis": 0.20}, {"VolumeProfile": 0.25, "TrendingOIPA": -0.15},
            {"Correlation": 0.30}]
    got = Weighting(BASE).rules
    assert [r[1] for r in got] == pytest.approx(want)
    assert [r[0] for r in got] == [("atr_percentile", 80.0), ("adx", 25.0), ("expiry_day", None),
                                   ("low_volume", None), ("high_correlation", None)]


@pytest.mark.parametrize("adjustment,components,words", [
    ("+20% ATR, +15% IV", "ATRIndicators", "IVSurface not in Components"),
    ("+20% ATR", "ATRIndicators,IVSurface", "no percentage for IVSurface"),
    ("+20% ATR, +15% Vol", "ATRIndicators,IVSurface", "Vol names no component"),
    ("+20% ATR, +15% ATR", "ATRIndicators,IVSurface", "ATRIndicators is adjusted twice"),
])
def test_unpaired_adjustments_are_refused(adjustment: str, components: str, words: str) -> None:
    ps, issues = _edit({ADJ + ("adjustment",): adjustment, ADJ + ("components",): components})
    assert ps is None
    assert any(i.startswith("DynamicWeightageConfig!B13:") and words in i for i in issues), issues


@pytest.mark.parametrize("condition", ["High Volatility (ATR above 80%ile)", "High Volatility (atr_percentile>80)",
                                       "Calm (ATR<20)", "ATR>80 and ADX>25", "Always"])
def test_an_adjustment_condition_the_engine_cannot_map_is_refused(condition: str) -> None:
    ps, issues = _edit({ADJ + ("condition",): condition})
    assert ps is None
    assert any(i.startswith("DynamicWeightageConfig!A13:") and "ATR>number" in i for i in issues), issues


@pytest.mark.parametrize("ch", ["\ufffe", "\uffff", "\ud800"])
def test_a_character_no_workbook_can_hold_is_refused(ch: str) -> None:
    ps, issues = _edit({("TradingRisk", "bias_size_multipliers", 0, "description"): f"No trades{ch}"})
    assert ps is None
    assert any(f"\\u{ord(ch):04x}" in i and "TradingRisk!" in i for i in issues), issues


def test_a_noncharacter_openpyxl_writes_is_kept() -> None:
    """U+FDD0 is writable (only U+FFFE/U+FFFF and surrogates break the export), so it is not refused."""
    ps, issues = _edit({("TradingRisk", "bias_size_multipliers", 0, "description"): "No trades\ufdd0"})
    assert ps is not None, issues
    wb = openpyxl.Workbook()
    wb.active["A1"] = "No trades\ufdd0"
    wb.save(io.BytesIO())
