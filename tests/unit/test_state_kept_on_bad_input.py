"""Bad input is refused on arrival with a message naming what and where, and the good state before it stays:
one bad Parameters-page edit, a CSV whose symbols would collide as folder names, removing an override that is
not there. Expectations are written by hand from the page's words (sheet, row shown 1-based, column header)."""
from __future__ import annotations

from typing import Any

import pytest
from dash import no_update

from engine.backtest.inputs import BacktestError
from engine.backtest.upload import frames_from_upload
from engine.params import default_params, load_schema
from engine.planner.preset import PresetError
from webapp import param_views as pv
from webapp import planner_ids
from webapp.planner_overrides import remove_override
from webapp.planner_overrides_panel import edit_outputs

ATR = "ATRIndicatorsConfig|main|atr_period"
GOOD = {ATR: 20}  # a valid pending edit that must survive every refusal


@pytest.fixture(scope="module")
def page() -> tuple[Any, dict[str, Any]]:
    return load_schema(), pv.origin_sheets(default_params(), None)


@pytest.mark.parametrize(("key", "value", "words"), [
    ("TransitionRules|main|99999|priority", 3, ["TransitionRules", "no row 100000"]),
    ("TransitionRules|main|-1|priority", 3, ["TransitionRules", "'-1' is not a row"]),
    ("TransitionRules|main|abc|priority", 3, ["TransitionRules", "'abc' is not a row"]),
    ("TransitionRules|main|0|priority", ["x"], ["TransitionRules, row 1, column 'Priority'", "not a list"]),
    ("TransitionRules|main|0|priority", {"a": 1}, ["TransitionRules, row 1, column 'Priority'", "not a mapping"]),
    ("TransitionRules|main|0|priority", "x" * 5000, ["column 'Priority'", "longer than 1000 characters"]),
    ("TransitionRules|main|0|nope", 3, ["TransitionRules, row 1", "no column 'nope'"]),
    ("ATRIndicatorsConfig|main|nope", 3, ["ATRIndicatorsConfig", "no parameter 'nope'"]),
    ("Nope|main|x", 3, ["no sheet 'Nope'"]),
], ids=["row-past-end", "row-negative", "row-text", "list", "mapping", "long-text", "column", "parameter", "sheet"])
def test_a_bad_edit_is_refused_by_name_and_the_pending_edits_stay(page, key: str, value: Any,  # type: ignore[no-untyped-def]
                                                                 words: list[str]) -> None:
    schema, origin = page
    edits = dict(GOOD)
    with pytest.raises(pv.EditsRefused) as refused:
        pv.merge_edit(schema, origin, edits, key, value)
    text = str(refused.value)
    assert text.startswith("Not taken:") and all(w in text for w in words), text
    assert "invalid literal" not in text and "KeyError" not in text
    assert edits == GOOD


def test_a_good_edit_after_a_refused_one_still_validates_for_apply(page) -> None:  # type: ignore[no-untyped-def]
    schema, origin = page
    edits = pv.merge_edit(schema, origin, dict(GOOD), "TransitionRules|main|0|priority", 7)
    assert edits == {ATR: 20, "TransitionRules|main|=1|priority": 7}  # stored by the row's key: rule_id 1
    ps, issues = pv.validate_candidate(schema, pv.candidate_sheets(default_params(), edits))
    assert issues == [] and ps is not None  # what merge_edit takes, Apply accepts


def test_a_grid_event_without_a_row_or_column_is_refused_naming_the_sheet() -> None:
    for event in ({"rowId": "1"}, {"colId": "priority"}, "priority", {"rowId": True, "colId": "priority"}):
        with pytest.raises(pv.EditsRefused, match="TransitionRules: the table edit"):
            pv.grid_edit_key("TransitionRules|main", event)
    assert pv.grid_edit_key("TransitionRules|main", {"rowId": "2", "colId": "priority"}) == \
        "TransitionRules|main|2|priority"


def _csv(*symbols: str) -> bytes:
    rows = "".join(f"2024-01-02,{s},1,2,0.5,1.5,10\n" for s in symbols)
    return f"timestamp,symbol,open,high,low,close,volume\n{rows}".encode()


@pytest.mark.parametrize(("symbols", "line", "bad"), [
    (("A/B", "A_B"), 2, "'A/B'"), (("SPY", "A_B"), 3, "'A_B'"), ((".", "SPY"), 2, "'.'"), (("SPY", ".."), 3, "'..'"),
])
def test_an_upload_symbol_that_is_no_ticker_is_refused_by_file_line_and_column(symbols: tuple[str, ...], line: int,
                                                                              bad: str) -> None:
    with pytest.raises(BacktestError) as refused:
        frames_from_upload(_csv(*symbols), "bars.csv")
    text = str(refused.value)
    assert f"bars.csv line {line}, column 'symbol': {bad} is not a symbol" in text
    assert "/tmp" not in text and "Errno" not in text


def test_distinct_symbols_load_side_by_side() -> None:
    frames = frames_from_upload(_csv("BRK.B", "BRK-B", "spy"), "bars.csv")
    assert sorted(frames) == ["BRK-B", "BRK.B", "SPY"] and all(len(f) == 1 for f in frames.values())


def test_removing_an_override_that_is_not_set_says_so_and_changes_nothing() -> None:
    current = {"costs.proportional": 0.0005}
    with pytest.raises(PresetError, match="'zz' has no override to remove"):
        remove_override(current, "zz")
    assert current == {"costs.proportional": 0.0005}
    new, message = edit_outputs(planner_ids.override_remove("zz"), 0, [{"prop_id": "x.n_clicks", "value": 1}], None,
                                None, current)
    assert new is no_update and "has no override to remove" in str(message) and "Removed" not in str(message)
    assert remove_override(current, "costs.proportional") == {}
