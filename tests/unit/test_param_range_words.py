"""One wording of a number field's bounds for the upload's issue, the editor's message and the what-if knobs."""
from __future__ import annotations

from engine.params.coerce import range_words
from engine.params.schema import FieldSpec
from engine.params.validate import _bounds_issue
from webapp.regime_whatif import allowed_range


def spec(lo: float | None, hi: float | None, unit: str = "", kind: str = "number") -> FieldSpec:
    return FieldSpec(name="x", header="X", type=kind, default=5, min=lo, max=hi, unit=unit)


def test_both_one_and_no_bounds() -> None:
    assert range_words(spec(7, 21, "periods"), "a value") == "a value from 7 to 21 periods"
    assert range_words(spec(0, None), "a value") == "a value of at least 0"
    assert range_words(spec(None, 2.5, "%"), "a value") == "a value of at most 2.5 %"
    assert range_words(spec(None, None), "a value") is None


def test_whatif_knob_wording_keeps_its_parenthesised_unit() -> None:
    assert allowed_range(spec(15, 120, "minutes", "integer")) == "a whole number from 15 to 120 (minutes)"
    assert allowed_range(spec(0.5, None)) == "a number of at least 0.5"
    assert allowed_range(spec(None, None, "bps")) == "a number (bps)"


def test_a_one_sided_field_out_of_range_never_says_none() -> None:
    """A field with only a lower bound: the upload's issue used to read "a value from 0 to None"."""
    issue = _bounds_issue("Sheet", "B3", "sec.x", "X", spec(0, None), -1)
    assert issue.expected == "a value of at least 0"
    assert "None" not in issue.fix and issue.fix.startswith("set it to a value of at least 0")
    both = _bounds_issue("Sheet", "B3", "sec.x", "X", spec(7, 21, "periods"), 30)
    assert both.expected == "a value from 7 to 21 periods" and both.fix == "set it between 7 and 21 (default 5)"
