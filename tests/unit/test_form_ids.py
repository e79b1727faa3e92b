"""Forged form values refused in the page's words (defects found by the input probe): a picked id is an int or
ASCII digits within the store's 64-bit range, a pending edit's row is no Python error, an order key cell "²" is
no order, and the stop form's bounds are said in its own fields and units."""
from __future__ import annotations

from typing import Any

import pytest

from webapp.execution_callbacks import set_stop_from_form
from webapp.form_ids import MAX_ID, FormIdError, parse_id
from webapp.regime_whatif import WhatIfError, parse_key
from webapp.trading_orders import clicked_order

PICK = "pick one from the list"


@pytest.mark.parametrize(("value", "expected"), [
    (7, 7), ("7", 7), (" 42 ", 42), ("999999999999999999", 999_999_999_999_999_999), (2**63 - 1, 2**63 - 1),
])
def test_an_id_is_an_int_or_ascii_digits_in_the_64_bit_range(value: Any, expected: int) -> None:
    assert parse_id(value, "the version to download", "version") == expected
    assert MAX_ID == 9_223_372_036_854_775_807


@pytest.mark.parametrize(("value", "quoted"), [
    ("²", "'²'"), ("abc", "'abc'"), ("1.5", "'1.5'"), ("١٢", "'١٢'"), ("", "''"), ("-3", "'-3'"),
    ("9" * 30, "'99999999999999999999…'"), (10**30, "10000000000000000000…"), (2**63, "9223372036854775808"),
    (1.5, "1.5"), (0, "0"), (True, "a bool value"), ([1], "a list value"), (None, "nothing"),
])
def test_anything_else_is_refused_naming_the_field(value: Any, quoted: str) -> None:
    with pytest.raises(FormIdError) as refused:
        parse_id(value, "the version to download", "version")
    assert str(refused.value) == f"the version to download: {quoted} is not a version number; {PICK}"
    assert "invalid literal" not in str(refused.value) and "too large" not in str(refused.value)


def test_a_row_index_may_be_zero_when_the_caller_says_so() -> None:
    assert parse_id("0", "the row", "row", minimum=0) == 0
    with pytest.raises(FormIdError, match="the row: -1 is not a row number"):
        parse_id(-1, "the row", "row", minimum=0)


@pytest.mark.parametrize("row", ["²", "9" * 30, "1.5", "x"])
def test_a_pending_edit_with_a_forged_row_is_not_a_parameter_address(row: str) -> None:
    key = f"RiskControls|main|{row}|x"
    with pytest.raises(WhatIfError) as refused:
        parse_key(key)
    assert "is not a parameter address (Sheet|section|field)" in str(refused.value)
    assert "discard it on the Parameters page" in str(refused.value)
    assert parse_key("RiskControls|main|0|x").row == 0 and parse_key("RiskControls|main|x").row is None


def _key_cell(value: Any) -> list[dict[str, Any]]:
    return [{"id": {"type": "trading-orders-cell", "slot": 0, "field": "id"}, "property": "children", "value": value}]


@pytest.mark.parametrize("forged", ["²", "abc", "9" * 30, "1.5"])
def test_a_forged_order_key_cell_is_no_order(forged: str) -> None:
    assert clicked_order(_key_cell(forged), {"slot": 0}) is None
    assert clicked_order(_key_cell("12"), {"slot": 0}) == 12


@pytest.mark.parametrize(("position", "typed", "message"), [
    (0, "1e20", "Not set: stop-loss % must be above 0 and below 100 (percent of the price), got 1e20."),
    (0, "100", "Not set: stop-loss % must be above 0 and below 100 (percent of the price), got 100."),
    (1, "150", "Not set: trailing % must be above 0 and below 100 (percent of the price), got 150."),
    (2, "51", "Not set: trailing ATRs must be above 0 and at most 50 ATRs, got 51."),
    (3, "2000", "Not set: take-profit % must be above 0 and at most 1000 percent, got 2000."),
    (4, "1e20", "Not set: max hold (minutes) must be above 0 and at most a year (527,040 minutes), got 1e20."),
    (4, "600000", "Not set: max hold (minutes) must be above 0 and at most a year (527,040 minutes), got 600000."),
])
def test_stop_form_bounds_are_said_in_the_form_fields_and_units(position: int, typed: str, message: str) -> None:
    values: list[Any] = [None] * 5
    values[position] = typed
    assert set_stop_from_form("SPY", *values) == (False, message)
