"""Trading page and banner callbacks called directly, inside the real Flask app on a temp SQLite store."""
from __future__ import annotations

import pytest
from dash import no_update

from engine.clock import ManualClock
from engine.runtime import build_context
from engine.settings import load_settings
from engine.trading import state as ts
from engine.trading.sync import sync_from_broker
from tests.trading_control_fixtures import T0, place_resting_orders, seed_market


@pytest.fixture()
def app(tmp_path):
    from app import create_app

    settings = load_settings(database_url=f"sqlite:///{tmp_path}/web.db", engine_mode="none")
    clock = ManualClock(T0)
    ctx = build_context(settings, with_source=False, migrate=True, clock=clock)
    seed_market(ctx.store, clock)
    application = create_app(settings, context=ctx)
    yield application
    ctx.store.dispose()


@pytest.fixture()
def request_ctx(app):
    """A request of the trader "tess" from 10.0.0.7, as the login guard would have set it up."""
    from engine.auth import principal

    with app.server.test_request_context("/", environ_base={"REMOTE_ADDR": "10.0.0.7"}), \
            principal.acting_as(principal.Principal("tess", "trader", "10.0.0.7")):
        yield app.server.extensions["regimedesk"]


def test_ticket_validation_messages():
    from webapp.manual_orders import TicketError, parse_ticket

    for args, message in [(("", "buy", 1, "market", None), "enter a symbol"),
                          (("spy", "buy", None, "market", None), "enter a quantity"),
                          (("spy", "buy", 1.5, "market", None), "whole number of shares"),
                          (("spy", "buy", 1, "limit", None), "needs a limit price"),
                          (("spy", "hold", 1, "market", None), "choose a side")]:
        with pytest.raises(TicketError, match=message):
            parse_ticket(*args)
    intent = parse_ticket(" spy ", "sell", "3", "limit", 101.5)
    assert (intent.symbol, intent.side.value, str(intent.qty), str(intent.limit_price)) == ("SPY", "sell", "3", "101.5")


def test_refresh_sends_nothing_when_nothing_changed_and_shows_an_action(request_ctx):
    from pages import trading
    from webapp import trading_queries

    outputs, prints = trading.refresh({})
    assert all(o is not no_update for o in outputs)
    again, _ = trading.refresh(prints)
    assert all(o is no_update for o in again)
    from webapp.control_actions import run_control

    place_resting_orders(request_ctx, 3)
    result = run_control("halt", reason="from the test")
    assert result.status == "done" and result.actor == "web:tess"
    trading_queries.forget()
    after, _ = trading.refresh(prints)
    changed = {name for name, out in zip(trading.SECTIONS, after, strict=True) if out is not no_update}
    assert {"state", "progress", "audit"} <= changed
    assert "cancelled 3 open order(s)" in str(after[trading.SECTIONS.index("progress")])


def test_clicks_map_to_actions(app):  # the app first: pages register with Dash on import
    from components.trading_tables import CANCEL_TYPE
    from pages.trading import action_for

    assert action_for("trading-kill-confirm", True, False) == {"action": "halt", "flatten": True}
    assert action_for("trading-shutdown-confirm", None, True) == {"action": "shutdown", "flatten": True}
    keys = [{"id": {"type": "trading-order-cell", "slot": 0, "field": "id"}, "property": "children", "value": "7"},
            {"id": {"type": "trading-order-cell", "slot": 1, "field": "id"}, "property": "children", "value": ""}]
    assert action_for({"type": CANCEL_TYPE, "slot": 0}, None, None, keys) == {"action": "cancel_order", "order_id": 7}
    assert action_for({"type": CANCEL_TYPE, "slot": 1}, None, None, keys) is None  # an emptied slot: no order
    assert action_for({"type": CANCEL_TYPE, "slot": 0}, None, None, "forged") is None
    assert action_for("something-else", None, None) is None


def test_manual_ticket_goes_through_the_gateway(request_ctx):
    from webapp.control_actions import run_control
    from webapp.manual_orders import submit_manual_order

    sync_from_broker(request_ctx)  # an account snapshot, as the engine's account job makes
    ok, message = submit_manual_order("aaa", "buy", 10, "market", None, "nonce-1")
    assert ok and message.startswith("Sent: buy 10 AAA at market"), message
    ok, message = submit_manual_order("AAA", "buy", 10, "market", None, "nonce-1")  # a double click
    assert message.startswith("Already submitted")
    run_control("halt", reason="stop")
    ok, message = submit_manual_order("AAA", "buy", 5, "market", None, "nonce-2")
    assert not ok and "trading is HALTED" in message
    with request_ctx.store.read() as s:
        assert ts.current(s).state is ts.TradingState.HALTED
