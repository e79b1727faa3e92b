"""Adding and deleting table rows as pending edits: the candidate table, cell edits that follow their row,
validation of the result, and the pending-changes line."""
from __future__ import annotations

from engine.params import default_params, load_schema
from webapp import param_issue_text, param_rows
from webapp import param_views as pv

RULES = ("TransitionRules", "main")


def _origin():  # type: ignore[no-untyped-def]
    return pv.origin_sheets(default_params(), None)


def test_deleting_a_row_moves_later_cell_edits_up_and_drops_its_own() -> None:
    schema, origin = load_schema(), _origin()
    edits = {"TransitionRules|main|2|min_confidence": 0.9, "TransitionRules|main|5|min_confidence": 0.8,
             "TransitionRules|main|0|min_confidence": 0.7, "ATRIndicatorsConfig|main|atr_period": 20}
    out = param_rows.delete_row(origin, edits, *RULES, 2)
    assert out == {"TransitionRules|main": [i for i in range(25) if i != 2],
                   "TransitionRules|main|4|min_confidence": 0.8, "TransitionRules|main|0|min_confidence": 0.7,
                   "ATRIndicatorsConfig|main|atr_period": 20}
    sheets = pv.candidate_sheets(default_params(), out)
    rules = sheets["TransitionRules"]["main"]
    assert len(rules) == 24
    assert rules[4]["rule_id"] == origin["TransitionRules"]["main"][5]["rule_id"] and rules[4]["min_confidence"] == 0.8
    ps, issues = pv.validate_candidate(schema, sheets)
    assert ps is not None and issues == []
    assert len(ps.table("TransitionRules")) == 24
    [line] = [r for r in pv.pending_rows(schema, origin, out, {}, sheets) if r["key"] == "TransitionRules|main"]
    deleted = origin["TransitionRules"]["main"][2]["rule_id"]
    assert (line["old"], line["new"]) == ("25 rows", f"24 rows (deleted {deleted})")


def test_an_added_blank_row_is_invalid_until_filled_and_deleting_it_leaves_no_edit() -> None:
    schema, origin = load_schema(), _origin()
    edits = param_rows.add_row(schema, origin, {}, "RegimeClassification", "main")
    sheets = pv.candidate_sheets(default_params(), edits)
    assert len(sheets["RegimeClassification"]["main"]) == 19
    ps, issues = pv.validate_candidate(schema, sheets)
    assert ps is None
    errors = param_issue_text.issues_by_key(schema, sheets, issues)
    assert "RegimeClassification|main|18|regime_name" in errors  # the flag sits on the new row's cell
    # typing into the new row is a cell edit against a blank cell
    edits = pv.merge_edit(schema, origin, edits, "RegimeClassification|main|18|regime_name", "Calm_Drift")
    assert edits["RegimeClassification|main|18|regime_name"] == "Calm_Drift"
    assert param_rows.delete_row(origin, edits, "RegimeClassification", "main", 18) == {}


def test_too_few_rows_is_a_validation_error_naming_the_table() -> None:
    schema, origin = load_schema(), _origin()
    edits: dict = {}
    for _ in range(3):
        edits = param_rows.delete_row(origin, edits, "RegimeClassification", "volatility_thresholds", 0)
    ps, issues = pv.validate_candidate(schema, pv.candidate_sheets(default_params(), edits))
    assert ps is None and any("has 0 rows" in i.message for i in issues)
