"""engine.params.values: which parts a stored set or an import lacks, and filling them from the version it is
applied onto instead of the schema defaults (audit findings 2 and 10). Hand-built canonical sheets."""
from __future__ import annotations

import copy

from engine.params.errors import ParamIssue
from engine.params.paramset import default_params
from engine.params.values import fill_from, filled_parts, missing_parts


def _sheets() -> dict:
    return copy.deepcopy(default_params().to_canonical()["sheets"])


def test_missing_parts_names_a_missing_sheet_section_and_parameter() -> None:
    schema = default_params().schema
    raw = _sheets()
    del raw["TradingRisk"]
    del raw["ATRIndicatorsConfig"]["main"]["atr_period"]
    assert sorted(missing_parts(schema, raw), key=str) == sorted(
        [("ATRIndicatorsConfig", "main", "atr_period"), ("TradingRisk", None, None)], key=str)
    assert missing_parts(schema, _sheets()) == []


def test_fill_from_takes_the_base_values_and_says_which_without_touching_the_inputs() -> None:
    schema = default_params().schema
    base = _sheets()
    base["TradingRisk"]["main"]["max_order_notional"] = 1000.0
    base["ATRIndicatorsConfig"]["main"]["atr_period"] = 18
    target = _sheets()
    target["TradingRisk"]["main"]["max_order_notional"] = 250000.0  # as the defaults filled it
    target["ATRIndicatorsConfig"]["main"]["atr_period"] = 15
    parts = [("TradingRisk", None, None), ("ATRIndicatorsConfig", "main", "atr_period")]
    merged, kept = fill_from(schema, target, base, parts)
    assert merged["TradingRisk"]["main"]["max_order_notional"] == 1000.0
    assert merged["ATRIndicatorsConfig"]["main"]["atr_period"] == 18
    assert kept[0] == "TradingRisk" and kept[1].startswith("ATRIndicatorsConfig: ")
    assert target["ATRIndicatorsConfig"]["main"]["atr_period"] == 15  # the input is not mutated
    merged["TradingRisk"]["main"]["max_order_qty"] = 1
    assert base["TradingRisk"]["main"]["max_order_qty"] == 10000


def test_filled_parts_reads_only_the_warnings_that_used_defaults() -> None:
    issues = [ParamIssue("TradingRisk", "", "sheet is missing", severity="warning"),
              ParamIssue("X", "", "sheet is missing", severity="error"),  # a required sheet: refused, not filled
              ParamIssue("S", "", "section 'Main' is missing", field="main", severity="warning"),
              ParamIssue("S", "", "parameter Foo is missing", field="main.foo", severity="warning"),
              ParamIssue("S", "B3", "unknown parameter 'x' ignored", field="main.x", severity="warning")]
    assert filled_parts(issues) == [("TradingRisk", None, None), ("S", "main", None), ("S", "main", "foo")]
