"""A number cell that is no number says what was typed and, like the upload's out-of-range message, the allowed
range ("a value from 7 to 21 periods"); messages that already name the range are left as they are."""
from __future__ import annotations

import pytest

from webapp import param_issue_text
from webapp import param_views as pv

ATR = "ATRIndicatorsConfig|main|atr_period"  # integer, 7 to 21 periods, 14 in the defaults


def _message(value: object) -> str:
    schema = pv.schema()
    sheets = pv.candidate_sheets(pv.defaults(), {ATR: value})
    _ps, issues = pv.validate_candidate(schema, sheets)
    return param_issue_text.issues_by_key(schema, sheets, issues)[ATR]


@pytest.mark.parametrize(("typed", "expected"), [
    ("abc", "found 'abc'; expected a number, a value from 7 to 21 periods"),
    ("7.5", "found '7.5'; expected a whole number, a value from 7 to 21 periods"),
    ("inf", "found 'inf'; expected a finite number, a value from 7 to 21 periods"),
])
def test_a_number_cell_that_is_no_number_states_the_allowed_range(typed: str, expected: str) -> None:
    assert _message(typed).endswith(expected)


def test_the_out_of_range_message_keeps_the_uploads_wording_once() -> None:
    msg = _message(30)
    assert msg.endswith("30 is above the allowed range; expected a value from 7 to 21 periods")
    assert msg.count("7 to 21") == 1
