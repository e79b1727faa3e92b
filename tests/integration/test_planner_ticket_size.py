"""The manual ticket's Size and the planner share one sizing; the suggested size passes the gateway."""
from __future__ import annotations

from decimal import Decimal

from engine.clock import ManualClock
from engine.params.versions import active_params
from engine.planner.portfolio import portfolio_state
from engine.runtime import build_context
from engine.settings import load_settings
from engine.trading.brokers.base import OrderSide
from engine.trading.gateway import OrderIntent, submit
from engine.trading.ticket_size import ticket_size
from tests.engine_run import run_recorded_ticks
from tests.regime_pin import pin_regime


def test_ticket_size_is_accepted_by_the_gateway_and_matches_the_planner_cap(any_db_url: str) -> None:
    ctx = build_context(load_settings(database_url=any_db_url, warmup_polls=300), with_source=True, migrate=True,
                        clock=ManualClock())
    run_recorded_ticks(ctx, 1)
    pin_regime(ctx, "Bullish_Med_Vol")  # a long bias: sizing is the subject here, not the classifier
    symbol = sorted(ctx.source.symbols())[1]
    with ctx.store.read() as session:
        params = active_params(session)
        size = ticket_size(session, params, symbol, OrderSide.BUY)
        state = portfolio_state(session, params)
        missing = ticket_size(session, params, "NOPE", OrderSide.BUY)
    assert size.qty > 0, size.notes
    assert "ATR" in size.notes[0] and "notional" in size.notes[-1]
    assert state.size_caps is not None and state.size_caps[symbol] >= float(size.qty)  # cash may bind the ticket
    assert missing.qty == 0 and missing.notes == ("no price history for NOPE yet",)
    result = submit(ctx, OrderIntent(symbol, OrderSide.BUY, size.qty, reason="ticket", idempotency_key="size-1"),
                    actor="alice", origin="manual")
    assert result.accepted, result.reason
    assert isinstance(size.qty, Decimal)
