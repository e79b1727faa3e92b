"""The planner on a real store (SQLite and PostgreSQL): in a regime without a RegimeParameters row no buy is sized
(audit finding 1, sizing part). Bullish_Med_Vol's bias is LONG (x 1), so with its row the caps are the ATR sizes;
without it every cap is 0 and the plan buys nothing."""
from __future__ import annotations

from engine.clock import ManualClock
from engine.params import ParamSet
from engine.params.versions import active_params
from engine.planner.job import build_planner
from engine.planner.portfolio import portfolio_state
from engine.planner.preset_store import preset_for_regime
from engine.runtime import build_context
from engine.settings import load_settings
from engine.trading.brokers.base import OrderSide
from engine.trading.ticket_size import ticket_size
from tests.engine_run import run_recorded_ticks
from tests.regime_pin import pin_regime

REGIME = "Bullish_Med_Vol"


def without_row(base: ParamSet, regime: str) -> ParamSet:
    """`base` without `regime`'s RegimeParameters row (built directly: validation may refuse it)."""
    values = dict(base._values)
    values["RegimeParameters"] = {"main": tuple(r for r in values["RegimeParameters"]["main"]
                                                if r["regime_name"] != regime)}
    return ParamSet(values, base.schema)


def test_no_buy_is_sized_in_a_regime_without_its_row(any_db_url: str) -> None:
    ctx = build_context(load_settings(database_url=any_db_url, warmup_polls=300), with_source=True, migrate=True,
                        clock=ManualClock())
    try:
        run_recorded_ticks(ctx, 1)
        pin_regime(ctx, REGIME)
        with ctx.store.read() as session:
            params = active_params(session)
            with_row = portfolio_state(session, params)
            state = portfolio_state(session, without_row(params, REGIME))
            preset, why = preset_for_regime(session, state.regime, state.regime_hold)
        assert state.regime == REGIME and with_row.size_caps and state.size_caps is not None
        assert any(cap > 0 for cap in with_row.size_caps.values())  # the row's LONG x 1: buys are sized
        assert set(state.size_caps.values()) == {0.0}  # was the same sizes as with the row
        wanted = build_planner(preset).plan(with_row, why)
        assert [s for s in wanted.steps if s.side == "buy"], wanted.notes  # with the row the plan buys
        plan = build_planner(preset).plan(state, why)
        assert not [s for s in plan.steps if s.side == "buy"], plan.steps
        assert plan.notes and f"regime {REGIME} has no RegimeParameters row" in plan.notes[0]  # says why
        assert with_row.regime_hold is None
    finally:
        ctx.store.dispose()


def test_the_manual_ticket_sizes_nothing_in_a_regime_without_its_row(any_db_url: str) -> None:
    """The Trading page's Size (engine/trading/ticket_size.py): the same rule as the planner's caps."""
    ctx = build_context(load_settings(database_url=any_db_url, warmup_polls=300), with_source=True, migrate=True,
                        clock=ManualClock())
    try:
        run_recorded_ticks(ctx, 1)
        pin_regime(ctx, REGIME)
        with ctx.store.read() as session:
            params = active_params(session)
            symbol = next(s for s in ctx.source.symbols() if s != ctx.source.index_symbol())  # type: ignore[union-attr]
            sized = ticket_size(session, params, symbol, OrderSide.BUY)
            refused = ticket_size(session, without_row(params, REGIME), symbol, OrderSide.BUY)
        assert sized.qty > 0  # the row's LONG x 1
        assert (refused.qty, refused.binding) == (0, "regime") and REGIME in " ".join(refused.notes)
    finally:
        ctx.store.dispose()
