"""The Trading page's manual ticket says what is wrong with the quantity or limit price as typed.

The Qty and Limit fields are text (a number field with min/step made the browser send None for 0, -5 or 1.5,
so every bad quantity read "enter a quantity"); parse_ticket quotes what was typed and names the rule it breaks.
Expected texts are written out by hand from MAX_QTY = MAX_PRICE = 10,000,000."""
from __future__ import annotations

from decimal import Decimal

import pytest

from webapp.manual_orders import TicketError, parse_ticket, submit_manual_order

QTY = "enter a whole number of shares from 1 to 10,000,000"
PRICE = "enter a price above 0 and at most 10,000,000"


def _find(node: object, ident: str) -> object | None:
    """The component with this id in a Dash component tree."""
    if getattr(node, "id", None) == ident:
        return node
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            found = _find(child, ident)
            if found is not None:
                return found
    return None


def test_qty_and_limit_are_text_fields_so_the_server_sees_what_was_typed() -> None:
    from components.ids import trading as ids
    from webapp.trading_ticket import ticket_card

    card = ticket_card()
    for ident, mode in [(ids.TICKET_QTY, "numeric"), (ids.TICKET_LIMIT, "decimal")]:
        field = _find(card, ident)
        assert field is not None, ident
        assert (field.type, field.inputMode) == ("text", mode)  # type: ignore[attr-defined]
        assert getattr(field, "min", None) is None and getattr(field, "step", None) is None


@pytest.mark.parametrize(("qty", "message"), [
    ("0", f"quantity 0 is not positive; {QTY}"),
    (0, f"quantity 0 is not positive; {QTY}"),
    ("-5", f"quantity -5 is not positive; {QTY}"),
    ("1.5", f"quantity 1.5 is not a whole number of shares; {QTY}"),
    ("nan", f"quantity 'nan' is not a number; {QTY}"),
    ("inf", f"quantity 'inf' is not a number; {QTY}"),
    ("ten", f"quantity 'ten' is not a number; {QTY}"),
    ("10000001", f"quantity 10000001 is above the maximum of 10,000,000 shares; {QTY}"),
    (None, "enter a quantity (a whole number of shares from 1 to 10,000,000)"),
    ("   ", "enter a quantity (a whole number of shares from 1 to 10,000,000)"),
])
def test_each_bad_quantity_says_what_is_wrong(qty: object, message: str) -> None:
    with pytest.raises(TicketError) as caught:
        parse_ticket("SPY", "buy", qty, "market", None)
    assert str(caught.value) == message
    assert submit_manual_order("SPY", "buy", qty, "market", None, "n-1") == (False, f"Not sent: {message}.")


@pytest.mark.parametrize(("limit", "message"), [
    ("-1", f"limit price -1 is not positive; {PRICE}"),
    ("0", f"limit price 0 is not positive; {PRICE}"),
    ("abc", f"limit price 'abc' is not a number; {PRICE}"),
    ("20000000", f"limit price 20000000 is above the maximum of 10,000,000; {PRICE}"),
    ("", "a limit order needs a limit price (a price above 0 and at most 10,000,000)"),
])
def test_each_bad_limit_price_says_what_is_wrong(limit: object, message: str) -> None:
    with pytest.raises(TicketError) as caught:
        parse_ticket("SPY", "buy", "10", "limit", limit)
    assert str(caught.value) == message


def test_typed_numbers_become_the_order_they_mean() -> None:
    # the text as typed: spaces and thousands separators are the plain numbers 1000 and 100
    for qty in [" 1000 ", "1,000", "1000.0", 1000]:
        intent = parse_ticket("spy", "buy", qty, "limit", "100")
        assert (intent.qty, str(intent.qty), str(intent.limit_price)) == (Decimal(1000), "1000", "100"), qty
    assert str(parse_ticket("SPY", "sell", "3", "limit", " 101.50 ").limit_price) == "101.50"
    assert parse_ticket("SPY", "sell", "3", "market", None).limit_price is None
    assert parse_ticket("SPY", "sell", "3", "market", "  ").limit_price is None  # an empty Limit is no price


def test_a_very_long_entry_is_quoted_shortened() -> None:
    with pytest.raises(TicketError, match="quantity '1{32}…' is not a number"):
        parse_ticket("SPY", "buy", "1" * 40, "market", None)
