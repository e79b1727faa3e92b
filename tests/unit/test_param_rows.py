"""Adding and deleting table rows as pending edits: the candidate table, cell edits that follow their row (named by
the section's key, audit finding 5), validation of the result, and the pending-changes line."""
from __future__ import annotations

from engine.params import default_params, load_schema
from webapp import param_issue_text, param_rows
from webapp import param_views as pv

RULES = ("TransitionRules", "main")  # 25 rules, rule_id 1..25 in row order


def _origin():  # type: ignore[no-untyped-def]
    return pv.origin_sheets(default_params(), None)


def test_deleting_a_row_drops_its_own_cell_edits_and_keeps_the_others_on_their_rows() -> None:
    schema, origin = load_schema(), _origin()
    edits = {"TransitionRules|main|=3|min_confidence": 0.9, "TransitionRules|main|=6|min_confidence": 0.8,
             "TransitionRules|main|=1|min_confidence": 0.7, "ATRIndicatorsConfig|main|atr_period": 20}
    out = param_rows.delete_row(schema, origin, edits, *RULES, 2)  # row 3 on the page: rule 3
    assert out == {"TransitionRules|main": {"deleted": ["=3"], "added": []},
                   "TransitionRules|main|=6|min_confidence": 0.8, "TransitionRules|main|=1|min_confidence": 0.7,
                   "ATRIndicatorsConfig|main|atr_period": 20}
    sheets = pv.candidate_sheets(default_params(), out)
    rules = sheets["TransitionRules"]["main"]
    assert len(rules) == 24
    assert rules[4]["rule_id"] == 6 and rules[4]["min_confidence"] == 0.8 and rules[0]["min_confidence"] == 0.7
    ps, issues = pv.validate_candidate(schema, sheets)
    assert ps is not None and issues == []
    assert len(ps.table("TransitionRules")) == 24
    [line] = [r for r in pv.pending_rows(schema, origin, out, {}, sheets) if r["key"] == "TransitionRules|main"]
    assert (line["old"], line["new"]) == ("25 rows", "24 rows (deleted 3)")
    labels = {r["parameter"] for r in pv.pending_rows(schema, origin, out, {}, sheets)}
    assert {"MinConfidence (RuleID 6)", "MinConfidence (RuleID 1)"} <= labels  # the row's key, not its number


def test_an_added_blank_row_is_invalid_until_filled_and_deleting_it_leaves_no_edit() -> None:
    schema, origin = load_schema(), _origin()
    edits = param_rows.add_row(schema, origin, {}, "RegimeClassification", "main")
    sheets = pv.candidate_sheets(default_params(), edits)
    assert len(sheets["RegimeClassification"]["main"]) == 19
    ps, issues = pv.validate_candidate(schema, sheets)
    assert ps is None
    errors = param_issue_text.issues_by_key(schema, sheets, issues)
    assert "RegimeClassification|main|18|regime_name" in errors  # the flag sits on the new row's cell (position)
    # typing into the new row is a cell edit against a blank cell, stored for "new row 1"
    edits = pv.merge_edit(schema, origin, edits, "RegimeClassification|main|18|regime_name", "Calm_Drift")
    assert edits["RegimeClassification|main|+0|regime_name"] == "Calm_Drift"
    assert param_rows.delete_row(schema, origin, edits, "RegimeClassification", "main", 18) == {}


def test_deleting_an_added_row_moves_the_later_added_rows_edits_up() -> None:
    schema, origin = load_schema(), _origin()
    edits: dict = {}
    for _ in range(2):
        edits = param_rows.add_row(schema, origin, edits, "PerformanceMetrics", "main")  # 12 rows + 2 new
    edits = pv.merge_edit(schema, origin, edits, "PerformanceMetrics|main|13|metric", "second_new")
    assert "PerformanceMetrics|main|+1|metric" in edits
    edits = param_rows.delete_row(schema, origin, edits, "PerformanceMetrics", "main", 12)
    assert edits["PerformanceMetrics|main|+0|metric"] == "second_new"
    assert len(edits["PerformanceMetrics|main"]["added"]) == 1
    assert pv.candidate_sheets(default_params(), edits)["PerformanceMetrics"]["main"][12]["metric"] == "second_new"


def test_too_few_rows_is_a_validation_error_naming_the_table() -> None:
    schema, origin = load_schema(), _origin()
    edits: dict = {}
    for _ in range(3):
        edits = param_rows.delete_row(schema, origin, edits, "RegimeClassification", "volatility_thresholds", 0)
    assert edits == {"RegimeClassification|volatility_thresholds": {"deleted": ["=Low", "=Medium", "=High"],
                                                                     "added": []}}
    ps, issues = pv.validate_candidate(schema, pv.candidate_sheets(default_params(), edits))
    assert ps is None and any("has 0 rows" in i.message for i in issues)


def test_a_row_is_named_by_its_key_and_a_key_with_a_bar_survives() -> None:
    schema = load_schema()
    spec = schema.sheet("TradingRisk").section("group_limits")
    rows = [{"group": "a|b", "max_exposure_pct": 1}, {"group": "50%", "max_exposure_pct": 2}]
    tokens = param_rows.origin_tokens(spec, rows)
    assert tokens == ["=a%7Cb", "=50%25"]
    assert [param_rows.row_label(t) for t in tokens] == ["a|b", "50%"]
    # no unique key (blank or twice): the row number, pinned to this exact table
    twice = param_rows.origin_tokens(spec, [{"group": "x"}, {"group": "x"}, {"group": ""}])
    assert [t.split(".")[0] for t in twice] == ["#0", "#1", "#2"] and len({t.split(".")[1] for t in twice}) == 1
    assert param_rows.row_label(twice[1]) == "row 2"
    changed = param_rows.origin_tokens(spec, [{"group": "x"}, {"group": "x"}, {"group": "y"}])
    assert changed[0] != twice[0]  # another table: an edit kept by number no longer resolves


def test_edits_whose_rows_are_gone_or_in_the_old_form_are_dropped_with_reasons() -> None:
    schema, origin = load_schema(), _origin()
    edits = {"TransitionRules|main|=99|priority": 3, "TransitionRules|main|0|priority": 3,
             "TransitionRules|main": [0, 1, 2], "RegimeClassification|main": {"deleted": ["=Nope"], "added": []},
             "ATRIndicatorsConfig|main|atr_period": 20}
    kept, reasons = param_rows.live_edits(schema, origin, edits)
    assert kept == {"ATRIndicatorsConfig|main|atr_period": 20}
    assert sorted(reasons) == sorted([
        "TransitionRules, 99: that row is no longer in the table",
        "TransitionRules|main|0|priority: an edit kept by row number by an older form of this page; edit it again",
        "TransitionRules|main: row changes kept in an older form of this page; add or delete them again",
        "RegimeClassification: deleting Nope: that row is no longer in the table"])
    assert param_rows.dropped_message(reasons[:1]).startswith("1 pending edit dropped: ")


def test_positional_edits_for_the_regime_what_if_name_rows_by_their_place_in_the_origin() -> None:
    schema = load_schema()
    origin = pv.origin_sheets(default_params(), None)
    reordered = {**origin, "TradingRisk": {**origin["TradingRisk"], "bias_size_multipliers": sorted(
        origin["TradingRisk"]["bias_size_multipliers"], key=lambda r: r["trading_bias"])}}
    edits = {"TradingRisk|bias_size_multipliers|=LONG_AGGRESSIVE|size_multiplier": "0.5",
             "ATRIndicatorsConfig|main|atr_period": 20, "TransitionRules|main|=2|priority": 3,
             "TransitionRules|main": {"deleted": ["=1"], "added": []}, "TradingRisk|group_limits|=Nope|group": "x"}
    # defaults: LONG_AGGRESSIVE is row 4 (index 3); sorted by name it follows LONG (index 1)
    assert param_rows.positional(schema, origin, edits) == {
        "TradingRisk|bias_size_multipliers|3|size_multiplier": "0.5", "ATRIndicatorsConfig|main|atr_period": 20}
    assert param_rows.positional(schema, reordered, edits)["TradingRisk|bias_size_multipliers|1|size_multiplier"] == "0.5"
