"""Audit 2, defect 1: a graceful shutdown that keeps its positions keeps their native protective stops at the
broker (they protect the positions while the engine is down), and last_shutdown records the state the shutdown
ended in (STOPPED). A shutdown with flatten still cancels the stop before it sells. Real fake-Alpaca HTTP
server, real store on SQLite and PostgreSQL."""
from __future__ import annotations

from decimal import Decimal as D

from engine.execution.protect import attach_stop
from engine.execution.stops import StopSpec
from engine.store.models import KeyValue
from engine.trading import control
from engine.trading.state import TradingState
from tests.integration.test_alpaca_native_stops import SYM, ctx, hold, natives, server, tick  # noqa: F401


def test_controls_audit_shutdown_without_flatten_keeps_the_native_stop(ctx, server) -> None:  # noqa: F811
    # long 100 @ 100 with a 5% stop-loss: the native sell stop rests at 100 * (1 - 0.05) = 95
    hold(ctx, server, "100", "100", "100")
    attach_stop(ctx, SYM, StopSpec(stop_loss_pct=D(5)), "alice")
    tick(ctx)
    [order] = natives(server)
    assert order.stop_price == D(95)
    res = control.graceful_shutdown(ctx, "alice", flatten=False)
    assert res.status == "done", res.message
    assert res.state is TradingState.STOPPED
    assert natives(server) == [order] and order.status == "new", "the kept position's stop must stay at the broker"
    server.book.move_price(SYM, D(80))  # through 95 with the engine stopped: the broker's stop sells the 100
    assert server.book.positions.get(SYM) is None
    with ctx.store.read() as s:
        saved = s.get(KeyValue, "last_shutdown").value
    assert saved["state"] == "STOPPED", saved  # was SHUTTING_DOWN: recorded before the last step


def test_controls_audit_shutdown_with_flatten_still_cancels_the_stop_first(ctx, server) -> None:  # noqa: F811
    hold(ctx, server, "100", "100", "100")
    attach_stop(ctx, SYM, StopSpec(stop_loss_pct=D(5)), "alice")
    tick(ctx)
    [order] = natives(server)
    res = control.graceful_shutdown(ctx, "alice", flatten=True)
    assert res.status == "done", res.message
    assert order.status == "canceled" and natives(server) == []
    assert server.book.positions.get(SYM) is None  # sold 100 at market: nothing left to protect
