"""Review 3 of the manual ticket: a limit price typed for a market order is refused, not dropped; a quantity or
limit price typed in exponent notation ("1e3") is refused, not read as 1000. typed_numbers keeps its default
(the Backtest cash field reads "1e6" as 1,000,000). Expected texts are written out by hand."""
from __future__ import annotations

from decimal import Decimal

import pytest

from webapp.manual_orders import TicketError, parse_ticket, submit_manual_order
from webapp.typed_numbers import typed_decimal, uses_exponent

MARKET_WITH_PRICE = "a limit price was typed for a market order: choose Limit or clear the price"


@pytest.mark.parametrize("limit", ["101.5", "-1", "abc", 101.5, 0])
def test_a_market_order_with_a_typed_limit_price_is_refused(limit: object) -> None:
    with pytest.raises(TicketError) as caught:
        parse_ticket("SPY", "buy", "10", "market", limit)
    assert str(caught.value) == MARKET_WITH_PRICE
    assert submit_manual_order("SPY", "buy", "10", "market", limit, "n-1") == (False, f"Not sent: {MARKET_WITH_PRICE}.")


@pytest.mark.parametrize("limit", [None, "", "   "])
def test_a_market_order_with_an_empty_limit_is_a_market_order(limit: object) -> None:
    intent = parse_ticket("SPY", "buy", "10", "market", limit)
    assert (intent.order_type.value, intent.limit_price, intent.qty) == ("market", None, Decimal(10))


@pytest.mark.parametrize(("qty", "shown"), [("1e3", "'1e3'"), ("1E3", "'1E3'"), (" 2.5e2 ", "'2.5e2'"),
                                            ("1e+3", "'1e+3'"), ("10E-1", "'10E-1'")])
def test_a_quantity_in_exponent_notation_is_refused(qty: str, shown: str) -> None:
    with pytest.raises(TicketError) as caught:
        parse_ticket("SPY", "buy", qty, "market", None)
    assert str(caught.value) == f"quantity {shown} is in exponent notation; type the quantity as digits, e.g. 1000 or 1,000"


def test_a_limit_price_in_exponent_notation_is_refused() -> None:
    with pytest.raises(TicketError) as caught:
        parse_ticket("SPY", "buy", "10", "limit", "1e2")
    assert str(caught.value) == ("limit price '1e2' is in exponent notation; type the limit price as digits, "
                                 "e.g. 101.50 or 1,250.00")


def test_digits_still_make_the_order_they_mean() -> None:
    intent = parse_ticket("spy", "buy", "1,000", "limit", "1,250.00")
    assert (str(intent.qty), str(intent.limit_price)) == ("1000", "1250.00")
    # a number sent as a JSON number (not typed text) is the number itself
    assert parse_ticket("SPY", "buy", 1000.0, "market", None).qty == Decimal(1000)


def test_not_a_number_is_still_not_a_number() -> None:
    for text in ("e", "1e", "ee3", "inf", "nan"):
        with pytest.raises(TicketError, match="is not a number"):
            parse_ticket("SPY", "buy", text, "market", None)


def test_typed_numbers_default_still_reads_exponents_for_its_other_caller() -> None:
    assert typed_decimal("1e6", max_len=40) == Decimal(1_000_000)  # the Backtest cash field, unchanged
    assert typed_decimal("1,000,000", max_len=40) == Decimal(1_000_000)
    assert typed_decimal("1e6", max_len=40, allow_exponent=False).is_nan()
    assert typed_decimal("1000000", max_len=40, allow_exponent=False) == Decimal(1_000_000)
    assert typed_decimal(1e6, max_len=40, allow_exponent=False) == Decimal(1_000_000)  # a number, not text
    assert (uses_exponent("1e6", 40), uses_exponent("1000", 40), uses_exponent("e", 40), uses_exponent(1e6, 40)) == (
        True, False, False, False)


def test_the_backtest_cash_field_still_reads_exponent_notation() -> None:
    from webapp.backtest_jobs import parse_cash

    assert parse_cash("1e6") == 1_000_000.0
