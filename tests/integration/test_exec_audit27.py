"""Audit 27 fixes in order execution, through the real store (SQLite and PostgreSQL), paper broker and web app.

1. A forged cancel-parent POST with an id past the store's integer range was an HTTP 500 (OverflowError on SQLite,
   NumericValueOutOfRange on PostgreSQL); it now answers "does not exist" and changes nothing.
2. A stop whose exit filled while the position grew meanwhile stayed "triggered" on that filled exit for good: the
   shares left had no exit at all. Once a sync after the fill shows them, the stop exits them too.
"""
from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import select

from engine.context import EngineContext
from engine.execution.parent_control import ParentError, cancel_parent
from engine.execution.protect import check_stops
from engine.execution.stops import StopSpec
from engine.market.types import Bar
from engine.store.models import AuditEvent, OrderRow, PositionRow, ProtectiveStop
from engine.trading.brokers.base import OrderRequest, OrderSide
from engine.trading.sync import sync_from_broker
from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.integration.test_risk_audit_prices import LOOSE, build, put_bar

HUGE = (2**63, 10**30)  # past PostgreSQL's bigint and SQLite's 64-bit integer


@pytest.fixture()
def ctx(any_db_url, tmp_path):  # type: ignore[no-untyped-def]
    c = build(any_db_url, tmp_path)
    yield c
    c.store.dispose()


@pytest.mark.parametrize("parent_id", HUGE)
def test_a_parent_id_past_the_stores_range_is_not_found(ctx, parent_id) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParentError, match="does not exist"):
        cancel_parent(ctx, parent_id, "web:trader")


@pytest.fixture
def web_app(test_settings, any_db_url):  # type: ignore[no-untyped-def]
    from app import create_app
    from engine.clock import utcnow
    from engine.trading.state import ensure_state
    from webapp.context import EXTENSION_KEY

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=20), start_engine=False)
    app.server.test_client().get("/login")  # Dash merges its callback registry on the first request
    with app.server.extensions[EXTENSION_KEY].store.write() as s:
        ensure_state(s, utcnow())
    return app


def _forged_cancel(dep: dict[str, Any], index: int) -> dict[str, Any]:
    """The row-action callback as a client without a browser can POST it: the cancel button of parent `index`."""
    body = wr.build_body(dep)
    spec = next(i for i in dep["inputs"] if "cancel" in str(i["id"]).lower() and "parent" in str(i["id"]).lower())
    ident = {**json.loads(spec["id"]), "index": index}
    position = dep["inputs"].index(spec)
    body["inputs"][position] = [{"id": ident, "property": "n_clicks", "value": 1}]
    body["changedPropIds"] = [json.dumps(ident, sort_keys=True, separators=(",", ":")) + ".n_clicks"]
    return body


@pytest.mark.parametrize("parent_id", HUGE)
def test_a_forged_cancel_of_a_huge_parent_id_answers_not_500(web_app, parent_id) -> None:  # type: ignore[no-untyped-def]
    client = login_client(web_app, "trader")
    dep = wr.find(wr.dependencies(client), "trading-parent-result.children")
    response = client.post(wr.CALLBACK_URL, json=_forged_cancel(dep, parent_id))
    assert response.status_code == 200, response.status_code
    assert "does not exist" in response.get_data(as_text=True)


def _bar(ctx: EngineContext, price: float) -> list[Bar]:
    """One simulated minute: a flat bar at `price` (the paper broker fills open orders on it), then a sync."""
    ctx.clock.advance(timedelta(minutes=1))
    ts = ctx.clock.now()
    put_bar(ctx, "AAA", price, ts, fill=True)
    sync_from_broker(ctx, LOOSE)
    return [Bar("AAA", ts, price, price, price, price, 1e6)]


def test_a_filled_exit_that_left_shares_exits_them_too(ctx) -> None:  # type: ignore[no-untyped-def]
    from engine.execution.protect import attach_stop

    _bar(ctx, 100.0)
    ctx.broker.submit_order(OrderRequest("buy-1", "AAA", OrderSide.BUY, D(100)))
    _bar(ctx, 100.0)  # long 100 at 100
    attach_stop(ctx, "AAA", StopSpec(stop_loss_pct=D(5)), "web:trader")  # level 95
    fired = check_stops(ctx, _bar(ctx, 90.0))  # through 95: sell 100 (the position then)
    assert [(e.what, e.detail.endswith("sell 100")) for e in fired] == [("triggered", True)]
    ctx.broker.submit_order(OrderRequest("buy-2", "AAA", OrderSide.BUY, D(50)))  # another entry, working meanwhile
    # both fill on the 80 bar: 100 + 50 - 100 = 50 left, long. That tick's sync stored the fill and the position
    # together, so the stop waits a tick (a stored position not yet showing a fill must never get a second exit)
    assert check_stops(ctx, _bar(ctx, 80.0)) == []
    events = []
    for price in (79.0, 78.0, 77.0):
        events += check_stops(ctx, _bar(ctx, price))
    with ctx.store.read() as s:
        exits = [(o.side, o.qty, o.status) for o in s.scalars(select(OrderRow).where(OrderRow.origin == "stop")
                                                             .order_by(OrderRow.id))]
        position = s.get(PositionRow, "AAA")
        stop = s.scalars(select(ProtectiveStop)).one()
        audited = list(s.scalars(select(AuditEvent.action).where(AuditEvent.action == "stop.triggered")))
    # the 50 left are exited (sell 50), never more: flat, not short
    assert exits == [("sell", D(100), "filled"), ("sell", D(50), "filled")]
    assert position is None or position.qty == 0
    assert stop.status == "done" and len(audited) == 2
    assert [e.what for e in events] == ["triggered", "done"]



class Killed(BaseException):
    """kill -9 stand-in: the engine stops dead inside the broker call, after the gateway recorded the child."""


def _tick(ctx: EngineContext, price: float = 100.0) -> None:
    from tests.integration.test_risk_audit_prices import mark_received

    ctx.clock.advance(timedelta(minutes=1))
    put_bar(ctx, "AAA", price, ctx.clock.now(), fill=True)
    mark_received(ctx, ctx.clock.now())
    sync_from_broker(ctx, LOOSE)


def _killed_mid_slice(ctx: EngineContext) -> int:
    """Long 90; an exit parent sell 90 in 3 TWAP slices of 30 whose first child is recorded but never sent."""
    from engine.execution.parents import create_parent, work_parents
    from engine.execution.slicing import SliceSpec

    _tick(ctx)
    ctx.broker.submit_order(OrderRequest("buy-1", "AAA", OrderSide.BUY, D(90)))
    _tick(ctx)
    pid = create_parent(ctx, "AAA", OrderSide.SELL, D(90), SliceSpec("twap", 540, 3), "web:trader", "manual", "exit-1")
    send = ctx.broker.submit_order

    def die(*_a: object, **_k: object) -> None:
        raise Killed

    ctx.broker.submit_order = die  # type: ignore[method-assign,assignment]
    with pytest.raises(Killed):
        work_parents(ctx)
    ctx.broker.submit_order = send  # type: ignore[method-assign]
    return pid


def _sells(ctx: EngineContext) -> list[tuple[D, str]]:
    with ctx.store.read() as s:
        return [(o.qty, o.status) for o in s.scalars(select(OrderRow).where(OrderRow.side == "sell")
                                                     .order_by(OrderRow.id))]


def test_a_parent_killed_mid_slice_works_its_rest_after_the_restart(ctx) -> None:  # type: ignore[no-untyped-def]
    from engine.execution.parents import work_parents
    from engine.store.models import ParentOrder

    pid = _killed_mid_slice(ctx)
    for _ in range(12):  # 12 simulated minutes: past the 30 s pending grace and the parent's 9 minutes
        _tick(ctx)
        work_parents(ctx)
    with ctx.store.read() as s:
        row = s.get(ParentOrder, pid)
        position = s.get(PositionRow, "AAA")
    # the never-sent child (30) is rejected as never received; 3 more children of 30 sell the 90: flat, not short
    assert _sells(ctx)[0] == (D(30), "rejected")
    assert sum(q for q, st in _sells(ctx) if st == "filled") == D(90)
    assert (row.status, row.filled_qty) == ("done", D(90))
    assert position is None or position.qty == 0


def test_a_child_thought_never_sent_that_reaches_the_broker_counts_again(ctx) -> None:  # type: ignore[no-untyped-def]
    from engine.execution.parents import work_parents
    from engine.store.models import ParentChild, ParentOrder

    pid = _killed_mid_slice(ctx)
    ctx.clock.advance(timedelta(minutes=1))  # past the pending grace
    sync_from_broker(ctx, LOOSE)
    assert _sells(ctx) == [(D(30), "rejected")]
    with ctx.store.read() as s:
        coid = s.scalars(select(ParentChild.client_order_id).where(ParentChild.parent_id == pid)).one()
    ctx.broker.submit_order(OrderRequest(coid, "AAA", OrderSide.SELL, D(30)))  # the in-flight send lands late
    work_parents(ctx)  # asks the broker again: it knows the child now, so no second child for those 30
    with ctx.store.read() as s:
        row = s.get(ParentOrder, pid)
    assert _sells(ctx) == [(D(30), "new")] and row.status == "active"
    for _ in range(12):
        _tick(ctx)
        work_parents(ctx)
    with ctx.store.read() as s:
        row = s.get(ParentOrder, pid)
    assert sum(q for q, st in _sells(ctx) if st == "filled") == D(90) and len(_sells(ctx)) == 3
    assert (row.status, row.filled_qty) == ("done", D(90))


def test_a_parent_996_of_1000_filled_shows_99_percent_not_100(ctx) -> None:  # type: ignore[no-untyped-def]
    """The paper broker fills at most the bar's volume (participation 1): a 996-share bar fills 996 of the 1000."""
    from components.execution_panels import parents_table
    from engine.execution.parent_control import parent_views
    from engine.execution.parents import create_parent, work_parents
    from engine.execution.slicing import SliceSpec
    from engine.store.models import BarRow
    from tests.integration.test_risk_audit_prices import mark_received

    ctx.clock.advance(timedelta(minutes=1))
    put_bar(ctx, "AAA", 10.0)
    mark_received(ctx, ctx.clock.now())
    create_parent(ctx, "AAA", OrderSide.BUY, D(1000), SliceSpec("twap", 600, 1), "web:trader", "manual", "p-1")
    work_parents(ctx)  # one child: buy 1000 at market
    ctx.clock.advance(timedelta(minutes=1))
    ts = ctx.clock.now()
    with ctx.store.write() as s:
        s.add(BarRow(symbol="AAA", ts=ts, open=10, high=10, low=10, close=10, volume=996))
    ctx.broker.process_bars([Bar("AAA", ts, 10, 10, 10, 10, 996)])
    sync_from_broker(ctx, LOOSE)
    with ctx.store.read() as s:
        view = parent_views(s)[0]
    assert (view["status"], view["filled"], view["pct"]) == ("active", D(996), 99.0)  # 996/1000 = 99.6%, shown 99
    text = str(parents_table([view], True))
    assert "99%" in text and "100%" not in text


def test_editing_a_positions_exits_never_loosens_its_trailing_stop(ctx) -> None:  # type: ignore[no-untyped-def]
    from engine.execution.protect import attach_stop, live_stops

    _bar(ctx, 100.0)
    ctx.broker.submit_order(OrderRequest("buy-1", "AAA", OrderSide.BUY, D(100)))
    _bar(ctx, 100.0)  # long 100 at 100
    attach_stop(ctx, "AAA", StopSpec(trail_pct=D(10)), "web:trader")
    for price in (120.0, 150.0, 140.0):  # high-water 150: level 150 * 0.9 = 135
        assert check_stops(ctx, _bar(ctx, price)) == []
    attach_stop(ctx, "AAA", StopSpec(trail_pct=D(10), take_profit_pct=D(80)), "web:trader")  # adds a take-profit
    with ctx.store.read() as s:
        view = live_stops(s)[0]
    assert (view["extreme"], view["stop"], view["take_profit"]) == (D(150), D(135), D(180))  # tp: 100 * 1.8
    fired = check_stops(ctx, _bar(ctx, 130.0))  # opens through 135: the exit goes (at the open, 130)
    assert [(e.what, e.detail.endswith("sell 100")) for e in fired] == [("triggered", True)]


def test_reducing_keeps_an_exit_parent_working_after_a_partial_sale_by_hand(ctx) -> None:  # type: ignore[no-untyped-def]
    from engine.execution.parent_control import stop_entry_parents
    from engine.execution.parents import create_parent, work_parents
    from engine.execution.slicing import SliceSpec
    from engine.store.models import ParentOrder
    from engine.trading import state as trading_state
    from engine.trading.state import TradingState

    _tick(ctx)
    ctx.broker.submit_order(OrderRequest("buy-1", "AAA", OrderSide.BUY, D(90)))
    _tick(ctx)  # long 90
    pid = create_parent(ctx, "AAA", OrderSide.SELL, D(90), SliceSpec("twap", 540, 3), "web:trader", "manual", "exit-1")
    ctx.broker.submit_order(OrderRequest("hand", "AAA", OrderSide.SELL, D(40)))
    _tick(ctx)  # the trader sold 40 by hand: 50 held, the parent's rest is 90
    with ctx.store.write() as s:
        trading_state.change(s, ctx.clock.now(), TradingState.REDUCING, "web:trader", "exits only")
    assert stop_entry_parents(ctx, "web:trader", "pause", {"AAA": D(50)}) == 0  # an exit: not stopped
    for _ in range(12):
        work_parents(ctx)
        _tick(ctx)
    with ctx.store.read() as s:
        row = s.get(ParentOrder, pid)
        position = s.get(PositionRow, "AAA")
    # 30 (slice 1) + 20 (slice 2, capped at the 20 still held) = the 50 held, then done: flat, never short
    assert _sells(ctx) == [(D(40), "filled"), (D(30), "filled"), (D(20), "filled")]  # by hand, then the children
    assert (row.status, row.filled_qty) == ("done", D(50))
    assert position is None or position.qty == 0
