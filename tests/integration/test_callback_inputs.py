"""The hostile inputs the login issue found, each sent with a real click: a clear message, nothing changed."""
from __future__ import annotations

import math
from typing import Any

import pytest

from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.store_snapshot import fingerprint


@pytest.fixture
def web(test_settings, any_db_url):  # type: ignore[no-untyped-def]
    from app import create_app
    from engine.clock import utcnow
    from engine.trading.state import ensure_state
    from webapp.context import EXTENSION_KEY

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=10), start_engine=False)
    store = app.server.extensions[EXTENSION_KEY].store
    with store.write() as s:
        ensure_state(s, utcnow())
    client = login_client(app, "admin")
    return client, wr.dependencies(client), store


TICKET = {"trading-ticket-submit.n_clicks": 1, "trading-ticket-symbol.value": "ALFA", "trading-ticket-side.value": "buy",
          "trading-ticket-qty.value": 5, "trading-ticket-type.value": "market", "trading-ticket-limit.value": None,
          "trading-ticket-nonce.data": "0123456789abcdef0123"}


@pytest.mark.parametrize(("field", "value", "message"), [
    ("trading-ticket-qty.value", math.nan, "nan' is not a number; enter a whole number"),
    ("trading-ticket-qty.value", 1e308, "quantity 1e+308 is above the maximum of 10,000,000"),
    ("trading-ticket-qty.value", [5], "[5]' is not a number; enter a whole number"),
    ("trading-ticket-symbol.value", ["ALFA"], "a symbol is 1 to 16 letters"),
    ("trading-ticket-symbol.value", {"s": "ALFA"}, "a symbol is 1 to 16 letters"),
    ("trading-ticket-symbol.value", "A" * 100_000, "a symbol is 1 to 16 letters"),
    ("trading-ticket-type.value", "limit", "a limit order needs a limit price"),
    ("trading-ticket-nonce.data", ["x"], "reload the page"),
])
def test_manual_ticket_refuses_hostile_fields(web, field: str, value: Any, message: str) -> None:  # type: ignore[no-untyped-def]
    client, deps, store = web
    dep = wr.find(deps, "trading-ticket-result.children")
    before = fingerprint(store)
    response = wr.call(client, dep, {**TICKET, field: value}, trigger="trading-ticket-submit.n_clicks")
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert fingerprint(store) == before


def test_limit_price_nan_and_infinity_are_refused(web) -> None:  # type: ignore[no-untyped-def]
    client, deps, store = web
    dep = wr.find(deps, "trading-ticket-result.children")
    before = fingerprint(store)
    for price in (math.nan, math.inf, -1):
        values = {**TICKET, "trading-ticket-type.value": "limit", "trading-ticket-limit.value": price}
        text = wr.call(client, dep, values, trigger="trading-ticket-submit.n_clicks").get_data(as_text=True)
        assert "Not sent: limit price" in text, price
    assert fingerprint(store) == before


@pytest.mark.parametrize(("edits", "message"), [
    ({"Nope|x|y": 1}, "names no parameter"),
    ({"ATRIndicatorsConfig|main|nope": 3}, "names no parameter"),
    # a table cell is kept by its row's key (=rule id): a row number is an older page's edit, a key no row has is gone
    ({"TransitionRules|main|999999|min_confidence": 0.5}, "kept by row number by an older form of this page"),
    ({"TransitionRules|main|=999999|min_confidence": 0.5}, "that row is no longer in the table"),
    ({"MasterConfiguration|main|trading_mode": ["paper"]}, "a cell holds a number, a text or a yes"),
    ({"MasterConfiguration|main|trading_mode": "x" * 5000}, "longer than 1000 characters"),
])
def test_invented_parameter_edits_are_refused_and_nothing_is_applied(web, edits: dict, message: str) -> None:  # type: ignore[no-untyped-def]
    client, deps, store = web
    dep = wr.find(deps, "parameters-apply-modal.is_open")
    before = fingerprint(store)
    response = wr.call(client, dep, {"parameters-apply-confirm.n_clicks": 1, "parameters-edits.data": edits,
                                     "parameters-base.data": {}}, trigger="parameters-apply-confirm.n_clicks")
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert fingerprint(store) == before


@pytest.mark.parametrize(("sliders", "message"), [
    ([0.5, 0.5], "expected 6 slider values"),
    ([0.5] * 5 + [math.nan], "must be a number from 0 to 1"),
    ([0.5] * 5 + ["1"], "must be a number from 0 to 1"),
    ("all", "expected 6 slider values"),
])
def test_short_or_broken_slider_lists_are_refused(web, sliders: Any, message: str) -> None:  # type: ignore[no-untyped-def]
    from engine.planner.api import SLIDERS

    assert len(SLIDERS) == 6
    client, deps, store = web
    dep = wr.find(deps, "planner-save-message.children")
    before = fingerprint(store)
    matches = wr.Matches(({"name": s.name}, v) for s, v in zip(SLIDERS, sliders, strict=False)) \
        if isinstance(sliders, list) else sliders
    values = {"planner-save.n_clicks": 1, '{"name":["ALL"],"type":"planner-slider"}.value': matches,
              '{"name":["ALL"],"type":"planner-switch"}.id': wr.Matches([]),
              '{"name":["ALL"],"type":"planner-switch"}.value': wr.Matches([]),
              "planner-save-name.value": "mine", "planner-preset.value": "default"}
    response = wr.call(client, dep, values, trigger="planner-save.n_clicks")
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert fingerprint(store) == before
