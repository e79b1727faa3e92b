"""A protective stop reads its position: the maximum holding time counts from the first stop's attach (an edit of
the stop does not restart it), and the stop-loss / take-profit are measured from the position's average entry price
after scaling in (as the positions table and the P&L read it), through the real gateway and the paper broker on
SQLite and PostgreSQL (the broker-side stop on Alpaca: test_execution_native_avg_entry.py). Every level is worked out by hand in the comments."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from engine.context import EngineContext
from engine.execution.protect import attach_stop, check_stops, live_stops
from engine.execution.stops import StopSpec
from engine.store.models import PositionRow
from engine.trading.brokers.base import OrderSide
from engine.trading.gateway import OrderIntent, submit
from tests.integration.test_execution_db import LIMITS, T0, bar, ctx, orders, stop_row  # noqa: F401 - ctx: fixture


def _buy(c: EngineContext, qty: int, price: float, key: str) -> None:
    """A market buy that fills at the next bar's open, `price` (no slippage), one minute later."""
    assert submit(c, OrderIntent("AAA", OrderSide.BUY, D(qty), idempotency_key=key), "t", "manual", LIMITS).accepted
    bar(c, price, price, price, price)


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _flat(c: EngineContext, price: float = 100) -> list[str]:
    return [e.what for e in check_stops(c, [bar(c, price, price, price, price)])]


def test_editing_a_stop_keeps_the_holding_clock(ctx):  # noqa: F811 - the fixture
    _buy(ctx, 10, 100, "b1")  # filled at T0+60: the position opens; its stop is attached then
    attach_stop(ctx, "AAA", StopSpec(max_hold_seconds=300), "alice")
    assert _flat(ctx) == []  # T0+120
    _buy(ctx, 5, 100, "b2")  # T0+180: scaling in does not restart the clock
    assert check_stops(ctx, []) == []
    ctx.clock.advance(60)  # T0+240: the trader edits the stop (adds a take-profit)
    attach_stop(ctx, "AAA", StopSpec(max_hold_seconds=300, take_profit_pct=D(50)), "alice")
    assert _utc(stop_row(ctx).opened_at) == T0 + timedelta(seconds=60)
    assert _flat(ctx) == []  # T0+300: held 240 s of 300
    events = check_stops(ctx, [bar(ctx, 100, 100, 100, 100)])  # T0+360: held 300 s since T0+60 (was 120 s)
    assert [(e.what, e.detail) for e in events] == [("triggered", "time stop: sell 15")]
    assert [(o.side, o.qty) for o in orders(ctx, "stop")] == [("sell", D(15))]


def test_a_first_stop_on_an_old_position_counts_from_its_attach(ctx):  # noqa: F811 - the fixture
    _buy(ctx, 10, 100, "b1")  # opened at T0+60
    ctx.clock.advance(200)  # T0+260: a first stop with a 300 s hold is attached: the hold counts from now, so a
    attach_stop(ctx, "AAA", StopSpec(max_hold_seconds=300), "alice")  # trader's new exit never fires at once
    assert _utc(stop_row(ctx).opened_at) == T0 + timedelta(seconds=260)
    assert _flat(ctx) == []  # T0+320: held 60 s since the attach
    ctx.clock.advance(120)  # T0+440
    assert _flat(ctx) == []  # T0+500: held 240 s since the attach (440 s since the opening: it would have fired)
    assert _flat(ctx) == ["triggered"]  # T0+560: held 300 s since the attach


def test_the_stop_loss_is_measured_from_the_average_entry_after_scaling_in(ctx):  # noqa: F811 - the fixture
    _buy(ctx, 100, 100, "b1")
    attach_stop(ctx, "AAA", StopSpec(stop_loss_pct=D(10), take_profit_pct=D(30)), "alice")  # 90 / 130 from 100
    _buy(ctx, 100, 120, "b2")  # 200 at (100 * 100 + 100 * 120) / 200 = 110
    with ctx.store.read() as s:
        pos = s.get(PositionRow, "AAA")
        assert (pos.qty, pos.avg_entry_price) == (D(200), D(110))
        [view] = live_stops(s)
    # from 110: stop-loss 110 * 0.9 = 99, take-profit 110 * 1.3 = 143 (from the first entry: 90 and 130)
    assert (view["entry"], view["stop"], view["take_profit"]) == (D(110), D(99), D(143))
    assert check_stops(ctx, [bar(ctx, 120, 121, 119, 120)]) == []
    assert stop_row(ctx).entry_price == D(110)
    events = check_stops(ctx, [bar(ctx, 100, 100, 98.5, 99)])  # low 98.5 reaches 99 (not 90)
    assert [(e.what, e.detail) for e in events] == [("triggered", "stop_loss stop at 99.0000: sell 200")]
    bar(ctx, 99, 99, 99, 99)  # the exit fills at the next open, 99
    assert [(o.qty, o.status, o.filled_avg_price) for o in orders(ctx, "stop")] == [(D(200), "filled", D(99))]


def test_a_take_profit_follows_the_average_entry_of_a_short(ctx):  # noqa: F811 - the fixture
    for qty, price, key in ((50, 100, "s1"), (50, 80, "s2")):
        assert submit(ctx, OrderIntent("AAA", OrderSide.SELL, D(qty), idempotency_key=key), "t", "manual",
                      LIMITS).accepted
        bar(ctx, price, price, price, price)
        if key == "s1":
            attach_stop(ctx, "AAA", StopSpec(take_profit_pct=D(15)), "alice")  # 100 * 0.85 = 85 for the first
    # short 100 at (50 * 100 + 50 * 80) / 100 = 90: take-profit 90 * 0.85 = 76.5
    assert check_stops(ctx, [bar(ctx, 80, 80, 77, 78)]) == []  # 77 > 76.5 (from the first entry 85: it fired)
    events = check_stops(ctx, [bar(ctx, 78, 78, 76, 77)])
    assert [(e.what, e.detail) for e in events] == [("triggered", "take_profit stop at 76.5000: buy 100")]
