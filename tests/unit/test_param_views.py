"""Parameters page helpers without a browser: edits on a base version, validation mapped to the
edited fields and cells, the pending diff with workbook cells, upload bounds, search and counts."""
from __future__ import annotations

import base64

import pytest

from engine.params import default_params, load_schema
from webapp import param_issue_text, param_search
from webapp import param_views as pv

ATR = "ATRIndicatorsConfig|main|atr_period"
MIN_DURATION_ROW2 = "RegimeClassification|main|1|min_duration"  # a cell by position (editors, messages)
MIN_DURATION_MED = "RegimeClassification|main|=Strong_Bullish_Med_Vol|min_duration"  # the same, as stored: row 2


@pytest.fixture(scope="module")
def base():  # type: ignore[no-untyped-def]
    return default_params()


def test_an_edit_back_to_the_base_value_is_dropped(base) -> None:  # type: ignore[no-untyped-def]
    schema, origin = load_schema(), pv.origin_sheets(default_params(), None)
    edits = pv.merge_edit(schema, origin, {}, ATR, 20)
    assert edits == {ATR: 20}
    assert pv.merge_edit(schema, origin, edits, ATR, "14") == {}  # typed text meaning the same number
    assert pv.merge_edit(schema, origin, {}, "ATRIndicatorsConfig|main|use_true_range", True) == {}


def test_invalid_edits_are_reported_on_their_own_field_and_cell(base) -> None:  # type: ignore[no-untyped-def]
    schema = load_schema()
    edits = {ATR: 99, MIN_DURATION_MED: "abc"}
    sheets = pv.candidate_sheets(base, edits)
    ps, issues = pv.validate_candidate(schema, sheets)
    assert ps is None
    assert {i.where for i in issues} == {"ATRIndicatorsConfig!B2", "RegimeClassification!E3"}
    errors = param_issue_text.issues_by_key(schema, sheets, issues)
    assert "above the allowed range" in errors[ATR]
    assert "expected a number" in errors[MIN_DURATION_ROW2]
    rows = pv.pending_rows(schema, pv.origin_sheets(base, None), edits, errors, sheets)
    assert [(r["sheet"], r["cell"], r["old"], r["new"]) for r in rows] == [
        ("ATRIndicatorsConfig", "B2", 14, 99), ("RegimeClassification", "E3", 30, "abc")]
    assert base.sheet("ATRIndicatorsConfig").atr_period == 14  # the base version is untouched


def test_valid_edits_give_a_paramset_with_the_typed_values(base) -> None:  # type: ignore[no-untyped-def]
    ps, issues = pv.validate_candidate(load_schema(), pv.candidate_sheets(base, {ATR: "20", MIN_DURATION_MED: "35"}))
    assert issues == [] and ps is not None
    assert ps.sheet("ATRIndicatorsConfig").atr_period == 20
    assert ps.table("RegimeClassification")[1].min_duration == 35.0


def test_cross_field_rule_errors_map_to_cells_when_they_have_no_field(base) -> None:  # type: ignore[no-untyped-def]
    schema = load_schema()
    name_key = "RegimeClassification|main|1|regime_name"
    sheets = pv.candidate_sheets(base, {"RegimeClassification|main|=Strong_Bullish_Med_Vol|regime_name":
                                        "Strong_Bullish_High_Vol"})  # row 2 renamed: a duplicate of row 1
    ps, issues = pv.validate_candidate(schema, sheets)
    assert ps is None and any("appears twice" in i.message for i in issues)
    assert "appears twice" in param_issue_text.issues_by_key(schema, sheets, issues)[name_key]


def test_upload_larger_than_the_limit_is_refused_before_decoding() -> None:
    blob = "data:application/octet-stream;base64," + base64.b64encode(b"x" * 20_000).decode()
    with pytest.raises(pv.UploadRefused, match="larger than the"):
        pv.decode_upload(blob, 10_000)
    assert pv.decode_upload(blob, 30_000) == b"x" * 20_000


def test_search_and_usage_counts() -> None:
    schema = load_schema()
    hits, total = param_search.search(schema, "atr period")
    assert total >= 1 and ("ATRIndicatorsConfig", "main", "atr_period", "ATR calculation period") in [
        (h[0], "main", h[2], h[3]) for h in hits]
    assert param_search.search(schema, "   ") == ([], 0)
    counts = param_search.usage_counts(schema)
    used, total_fields = counts["*"]
    assert 0 < used < total_fields == sum(t for k, (_u, t) in counts.items() if k != "*")
