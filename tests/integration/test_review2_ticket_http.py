"""The manual ticket over HTTP, as the browser calls it: the text typed in Qty / Limit reaches the server and
the answer names what is wrong with it (before, the number fields sent None and every answer was
"enter a quantity"). Expected texts written out by hand from MAX_QTY = MAX_PRICE = 10,000,000."""
from __future__ import annotations

import pytest

from tests import web_requests as wr
from tests.auth_helpers import login_client


@pytest.fixture()
def trader(test_settings):
    from app import create_app

    app = create_app(test_settings(warmup_polls=0), start_engine=False)
    return login_client(app, "trader")


@pytest.mark.parametrize(("qty", "order_type", "limit", "message"), [
    ("0", "market", None, "Not sent: quantity 0 is not positive; enter a whole number of shares from 1 to 10,000,000."),
    ("-5", "market", None, "Not sent: quantity -5 is not positive"),
    ("1.5", "market", None, "Not sent: quantity 1.5 is not a whole number of shares"),
    ("NaN", "market", None, "Not sent: quantity 'NaN' is not a number"),
    ("99999999", "market", None, "Not sent: quantity 99999999 is above the maximum of 10,000,000 shares"),
    ("5", "limit", "-1", "Not sent: limit price -1 is not positive; enter a price above 0 and at most 10,000,000."),
    ("5", "limit", "0", "Not sent: limit price 0 is not positive"),
])
def test_ticket_answers_what_was_typed(trader, qty, order_type, limit, message) -> None:
    submit = wr.find(wr.dependencies(trader), "trading-ticket-result.children")
    response = wr.call(trader, submit, {"trading-ticket-submit.n_clicks": 1, "trading-ticket-symbol.value": "SPY",
                                        "trading-ticket-side.value": "buy", "trading-ticket-qty.value": qty,
                                        "trading-ticket-type.value": order_type, "trading-ticket-limit.value": limit,
                                        "trading-ticket-nonce.data": "nonce-1"},
                       trigger="trading-ticket-submit.n_clicks")
    assert response.status_code == 200 and message in response.get_data(as_text=True)
