"""Every validation rule, each with a workbook (built from the reference) that breaks it.

The error must name the right Sheet!Cell, show the value found and say what was expected.
"""
import pytest

from engine.params.importer import import_grid
from engine.params.safety import read_grid
from engine.params.testing import edit_cells, reference_bytes

REF = reference_bytes()

CASES = [
    # (id, edits, expected Sheet!Cell, words in the message)
    ("not_a_number", {"ATRIndicatorsConfig!B2": "fourteen"}, "ATRIndicatorsConfig!B2", "a number"),
    ("not_whole", {"ATRIndicatorsConfig!B2": 14.5}, "ATRIndicatorsConfig!B2", "whole number"),
    ("above_max", {"ATRIndicatorsConfig!B2": 99}, "ATRIndicatorsConfig!B2", "above the allowed range"),
    ("below_min", {"StabilityConfiguration!B6": 0.1}, "StabilityConfiguration!B6", "below the allowed range"),
    ("bad_enum", {"ATRIndicatorsConfig!B3": "HMA"}, "ATRIndicatorsConfig!B3", "one of SMA, EMA, WMA"),
    ("bad_boolean", {"ATRIndicatorsConfig!B4": "maybe"}, "ATRIndicatorsConfig!B4", "TRUE or FALSE"),
    ("bad_time", {"MasterConfiguration!B13": "25:00"}, "MasterConfiguration!B13", "HH:MM"),
    ("bad_timezone", {"MasterConfiguration!B12": "Mars/Olympus"}, "MasterConfiguration!B12", "IANA timezone"),
    ("empty_value", {"ATRIndicatorsConfig!B2": None}, "ATRIndicatorsConfig!B2", "empty"),
    ("unknown_param", {"ATRIndicatorsConfig!A2": "atr_perod"}, "ATRIndicatorsConfig!A2", "did you mean atr_period"),
    ("bad_colour", {"RegimeClassification!G2": "green"}, "RegimeClassification!G2", "colour"),
    ("bad_expression", {"RegimeFormationConfig!C4": "trend_slope >> 0.015"}, "RegimeFormationConfig!C4", "condition"),
    ("bad_list_item", {"IndicatorConfiguration!G4": "options_chain,tea_leaves"}, "IndicatorConfiguration!G4",
     "tea_leaves"),
    ("indicator_weights", {"IndicatorConfiguration!D4": 0.3}, "IndicatorConfiguration!D4:D11", "add up to 1.1"),
    ("dynamic_weights", {"DynamicWeightageConfig!B2": 0.3}, "DynamicWeightageConfig!B2:B9", "add up to 1.1"),
    ("timeframe_weights", {"MultiTimeframeConfig!B2": 0.5}, "MultiTimeframeConfig!B2:B6", "add up to 1.2"),
    ("greek_weights", {"GreekSentimentConfig!B2": 0.35}, "GreekSentimentConfig!B2:B5", "add up to 1.1"),
    ("fusion_weight_count", {"MultiTimeframeFusion!B6": "0.5,0.5"}, "MultiTimeframeFusion!B6", "5 items"),
    ("min_below_max", {"StabilityConfiguration!B2": 120, "StabilityConfiguration!B3": 120},
     "StabilityConfiguration!B3", "not above"),
    ("open_before_close", {"MasterConfiguration!B14": "09:00"}, "MasterConfiguration!B14", "not above"),
    ("slot_end_before_start", {"IntradaySettings!C3": "09:10"}, "IntradaySettings!C3", "not after its start"),
    ("slots_overlap", {"IntradaySettings!B4": "09:20"}, "IntradaySettings!B4", "before the previous slot ends"),
    ("regime_name_unknown", {"RegimeParameters!B2": "Neutral_Tiny_Vol"}, "RegimeParameters!B2", "does not name"),
    ("transition_from_unknown", {"TransitionRules!B2": "Nuetral_Low_Vol"}, "TransitionRules!B2", "does not match"),
    ("pattern_matches_nothing", {"TransitionRules!C4": "Bullsh_*"}, "TransitionRules!C4", "does not match"),
    ("formation_pattern", {"RegimeFormationConfig!B13": "Range_*"}, "RegimeFormationConfig!B13", "does not match"),
    ("intraday_selector", {"IntradaySettings!E2": "Sidewayz_*"}, "IntradaySettings!E2", "does not match"),
    ("volatility_gap", {"RegimeClassification!B25": 0.13}, "RegimeClassification!B25", "Low ends at 0.12"),
    ("atr_percentile_overlap", {"RegimeClassification!D25": "25-70"}, "RegimeClassification!D25", "ends at 30"),
    ("trend_gap", {"RegimeClassification!B32": -0.02}, "RegimeClassification!B32", "ends at -0.015"),
    ("band_min_max", {"RegimeClassification!C24": 0.0}, "RegimeClassification!C24", "not above"),
    ("volatility_class_fk", {"RegimeClassification!C2": "Extreme"}, "RegimeClassification!C2",
     "not defined in RegimeClassification"),
    ("regime_id_mismatch", {"RegimeParameters!A2": 3}, "RegimeParameters!A2", "id 3 here but 8"),
    ("duplicate_regime", {"RegimeClassification!B3": "Strong_Bullish_High_Vol"}, "RegimeClassification!B3",
     "appears twice"),
    ("weight_bounds_order", {"DynamicWeightageConfig!C2": 0.25}, "DynamicWeightageConfig!B2", "not at least"),
    ("exit_above_entry", {"RegimeParameters!G2": 0.5}, "RegimeParameters!F2", "not at least"),
    ("durations_order", {"RegimeParameters!E2": 50}, "RegimeParameters!E2", "not at least"),
    ("regime_without_parameters", {"RegimeParameters!B2": "Neutral_Tiny_Vol"}, "RegimeClassification!B10",
     "not defined in RegimeParameters"),
    ("data_check_without_minutes", {"ValidationRules!C2": "data_gaps>5"}, "ValidationRules!C2",
     "data_gaps>5min"),
    ("action_unknown", {"ValidationRules!D2": "halt_regime_detecton"}, "ValidationRules!D2",
     "one of halt_regime_detection"),
    ("adjustment_names_unlisted", {"DynamicWeightageConfig!C13": "ATRIndicators"}, "DynamicWeightageConfig!B13",
     "IVSurface not in Components"),
    ("weight_condition_unmapped", {"DynamicWeightageConfig!A13": "High Volatility (ATR above 80%ile)"},
     "DynamicWeightageConfig!A13", "cannot map"),
]


@pytest.mark.parametrize("edits,where,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule_broken_names_the_cell(edits, where, words):
    res = import_grid(read_grid(edit_cells(REF, edits)))
    assert not res.ok and res.paramset is None
    hits = [e for e in res.report.errors if e.where == where]
    assert hits, f"no error at {where}; got {[str(e) for e in res.report.errors]}"
    text = " ".join(str(e) for e in hits)
    assert words in text, text
    assert all(e.expected or e.fix for e in hits)


def test_all_errors_are_reported_at_once_and_nothing_is_returned():
    res = import_grid(read_grid(edit_cells(REF, {
        "ATRIndicatorsConfig!B2": 99, "IntradaySettings!B4": "09:20", "RegimeParameters!B2": "Nope_Vol",
        "IndicatorConfiguration!D4": 0.3})))
    wheres = {e.where for e in res.report.errors}
    assert {"ATRIndicatorsConfig!B2", "IntradaySettings!B4", "RegimeParameters!B2",
            "IndicatorConfiguration!D4:D11"} <= wheres
    assert res.paramset is None


def test_every_declared_rule_has_a_breaking_case():
    """Keeps this file honest when a rule kind is added to schema.json."""
    from engine.params import load_schema

    kinds = {r["rule"] for r in load_schema().rules}
    covered = {"sum_equals", "list_length", "ordered", "time_slots", "regime_ref", "contiguous", "foreign_key",
               "same_id", "action_condition", "weight_adjustment"}
    assert kinds <= covered
