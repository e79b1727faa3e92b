"""The risk job's reduce step with open orders on the breaching symbol (real paper broker, SQLite and PostgreSQL).

The book (tests/integration/test_portfolio_limits.py's market-move breach): AAA 450 and CCC 300 bought at 100 with
100,000; AAA jumps to 140, so group g (AAA only, cap 50%) is 450*140 / (100,000 + 450*40) = 63,000 / 118,000 =
53.4%. A quarter of AAA is ceil(450 * 0.25) = 113 shares. Selling CCC turns shares into cash at the same price:
equity and AAA's value stay put, so it cannot lower g's 53.4% and must never be sent.
"""
from __future__ import annotations

from decimal import Decimal as D

from sqlalchemy import select

from engine.params.versions import apply_version
from engine.portfolio_risk import job
from engine.store.models import BarRow, OrderRow
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.gateway import OrderIntent, submit
from engine.trading.sync import sync_from_broker
from tests.integration.test_portfolio_limits import LIMITS, _hold, _params, ctx  # noqa: F401 (fixture)


def _jump(c) -> None:  # type: ignore[no-untyped-def]
    apply_version(c.store, _params({"reduce_on_breach": True}, {"AAA": "g"}, {"g": 50.0}), "test", "cli")
    _hold(c, AAA=450, CCC=300)
    assert job.run(c).breaches == []  # 45% before the move
    c.clock.advance(60)
    with c.store.write() as s:
        s.add(BarRow(symbol="AAA", ts=c.clock.now(), open=140, high=140, low=140, close=140, volume=1e7))
    sync_from_broker(c, LIMITS)


def _cuts(c) -> list[tuple[str, str, D]]:  # type: ignore[no-untyped-def]
    with c.store.read() as s:
        return [(o.symbol, o.side, o.qty) for o in s.scalars(
            select(OrderRow).where(OrderRow.origin == job.REDUCE_ORIGIN).order_by(OrderRow.id))]


def _take_profit(c, qty: int) -> None:  # type: ignore[no-untyped-def]
    res = submit(c, OrderIntent("AAA", OrderSide.SELL, D(qty), OrderType.LIMIT, D(145), reason="take profit",
                                idempotency_key=f"tp-{qty}"), "alice", "manual", LIMITS)
    assert res.accepted and res.status.is_open, res  # rests: 145 is above the 140 market (inside the 5% collar)


def test_a_resting_native_stop_does_not_block_the_cut(ctx) -> None:  # noqa: F811
    _jump(ctx)
    with ctx.store.write() as s:  # the row engine/execution/native_stops.py stores for AAA's broker-side stop
        now = ctx.clock.now()
        s.add(OrderRow(client_order_id="rd-native-aaa", broker_order_id="brk-stop-1", symbol="AAA", side="sell",
                       qty=D(450), order_type="stop", status="new", filled_qty=D(0), origin="stop",
                       actor="system:stops", created_at=now, updated_at=now))
    result = job.run(ctx)
    assert [b.limit for b in result.breaches] == ["group_limits:g"]
    assert result.reduced == "AAA"
    assert _cuts(ctx) == [("AAA", "sell", D(113))]


def test_a_resting_take_profit_counts_toward_the_cut(ctx) -> None:  # noqa: F811
    _jump(ctx)
    _take_profit(ctx, 50)
    result = job.run(ctx)
    assert result.reduced == "AAA"
    assert _cuts(ctx) == [("AAA", "sell", D(63))]  # 113 - the 50 already on their way out


def test_no_cut_is_sent_when_none_lowers_the_breach(ctx) -> None:  # noqa: F811
    _jump(ctx)
    _take_profit(ctx, 120)  # 120 >= 113: AAA is already being cut by a quarter; only CCC is left, and it cannot help
    for _ in range(2):  # two cycles: nothing either time
        ctx.clock.advance(60)
        result = job.run(ctx)
        assert [b.limit for b in result.breaches] == ["group_limits:g"] and result.reduced is None
    assert _cuts(ctx) == []
