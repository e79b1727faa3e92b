"""The planner plans buys with the cash open buys have not claimed. Before, it planned with the account snapshot's
whole cash: with 10,000 cash and ~9,200 already promised to an open limit buy, a partly filled buy, a market buy and
a working TWAP parent, it planned ~760 more buys (a broker refusal, or the account below the cash reserve the
preset's slider promises). Open sells add nothing until they fill; resting stops are contingent, not counted."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal as D

import pandas as pd
import pytest

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.params.versions import active_params
from engine.planner import synthetic
from engine.planner.committed import CommittedState, committed_of
from engine.planner.planner import build_planner
from engine.planner.portfolio import portfolio_state
from engine.planner.preset import load_preset
from engine.planner.types import PortfolioState
from engine.planner.values import number
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import AccountSnapshot, OrderRow, ParentChild, ParentOrder
from tests.planner_page_fixtures import NOW, seed_history

CASH = 10_000.0


@pytest.fixture()
def store(any_db_url: str) -> Iterator[tuple[EngineContext, pd.DataFrame]]:
    ctx = build_context(load_settings(database_url=any_db_url, engine_mode="none"), with_source=False, migrate=True,
                        clock=ManualClock(NOW))
    history = synthetic.history(symbols=8, seed=3)
    seed_history(ctx, history)
    with ctx.store.write() as s:
        s.add(AccountSnapshot(ts=NOW, broker="paper", cash=D(CASH), equity=D(CASH), buying_power=D(CASH),
                              gross_exposure=D(0)))
    try:
        yield ctx, history
    finally:
        ctx.store.dispose()


def _order(coid: str, symbol: str, side: str, qty: int, kind: str = "limit", limit: str | None = None,
           status: str = "new", filled: int = 0) -> OrderRow:
    return OrderRow(client_order_id=coid, symbol=symbol, side=side, qty=D(qty), order_type=kind,
                    limit_price=D(limit) if limit else None, status=status, filled_qty=D(filled), origin="manual",
                    actor="tess", created_at=NOW, updated_at=NOW)


def _parent(key: str, symbol: str, side: str, qty: int, status: str = "active") -> ParentOrder:
    return ParentOrder(idempotency_key=key, symbol=symbol, side=side, qty=D(qty), mode="twap", status=status,
                       origin="planner", actor="tess", start_at=NOW, end_at=NOW + timedelta(hours=1), schedule=[],
                       filled_qty=D(0), created_at=NOW, updated_at=NOW)


def _commit(ctx: EngineContext) -> None:
    """S06 limit buy 100 @ 80; S05 limit buy 20 @ 50 with 10 filled; S04 market buy 3; S07 TWAP parent of 8: child 1
    (2) filled, child 2 (3 @ 90) open with 1 filled, 3 still to send. Not counted: an open sell, a filled and a
    canceled buy, a resting buy stop, a done buy parent and a working sell parent."""
    with ctx.store.write() as s:
        s.add_all([_order("a", "S06", "buy", 100, limit="80"),
                   _order("b", "S05", "buy", 20, limit="50", status="partially_filled", filled=10),
                   _order("c", "S04", "buy", 3, kind="market"),
                   _order("c1", "S07", "buy", 2, limit="85", status="filled", filled=2),
                   _order("c2", "S07", "buy", 3, limit="90", status="partially_filled", filled=1),
                   _order("x1", "S03", "sell", 50, limit="100"), _order("x2", "S02", "buy", 50, status="filled", filled=50),
                   _order("x3", "S02", "buy", 50, status="canceled"), _order("x4", "S01", "buy", 50, kind="stop")])
        s.add_all([_parent("p", "S07", "buy", 8), _parent("done", "S00", "buy", 40, status="done"),
                   _parent("sell", "S01", "sell", 40)])
        s.flush()
        pid = s.query(ParentOrder.id).filter(ParentOrder.idempotency_key == "p").scalar()
        s.add_all([ParentChild(parent_id=pid, seq=1, client_order_id="c1", qty=D(2), created_at=NOW),
                   ParentChild(parent_id=pid, seq=2, client_order_id="c2", qty=D(3), created_at=NOW)])


def _expected(history: pd.DataFrame) -> float:
    """By hand: 100 x 80 + (20 - 10) x 50 + 3 x close(S04) + (3 - 1) x 90 + (8 - 2 - 3) x close(S07)."""
    last = history.iloc[-1]
    return 8_000 + 500 + 3 * float(last["S04"]) + 180 + 3 * float(last["S07"])


def _state(ctx: EngineContext) -> PortfolioState:
    with ctx.store.read() as s:
        return portfolio_state(s, active_params(s))


def test_committed_cash_of_each_kind_of_open_buy(store: tuple[EngineContext, pd.DataFrame]) -> None:
    ctx, history = store
    assert committed_of(_state(ctx)) == 0.0
    _commit(ctx)
    state = _state(ctx)
    assert state.cash == CASH  # the account's cash: equity and weights are the whole account's
    assert state.equity == CASH
    assert committed_of(state) == pytest.approx(_expected(history), abs=1e-6)
    last = history.iloc[-1]
    assert isinstance(state, CommittedState)
    got = sorted((c.symbol, c.qty, round(c.price or 0, 6)) for c in state.commitments)
    assert got == sorted([("S06", 100, 80), ("S05", 10, 50), ("S04", 3, round(float(last["S04"]), 6)),
                          ("S07", 2, 90), ("S07", 3, round(float(last["S07"]), 6))])


def test_the_plan_buys_only_with_free_cash_and_says_why(store: tuple[EngineContext, pd.DataFrame]) -> None:
    ctx, history = store
    _commit(ctx)
    preset = load_preset("aggressive")
    plan = build_planner(preset).plan(_state(ctx))
    free = CASH - _expected(history)  # ~765
    keep = min(number(preset.params, "targets.cash_reserve") * CASH, free)  # the reserve, or the free cash if lower
    spent = sum(s.notional + s.cost for s in plan.steps if s.side == "buy")
    assert 0 < spent <= free - keep + 1e-6, (spent, free, keep, plan.steps)
    assert plan.notes[0].startswith(f"{_expected(history):,.2f} of cash 10,000.00 is committed to open buys ("), plan.notes
    assert "S06 limit buy 100 @ 80.00 = 8,000.00" in plan.notes[0]
    assert plan.notes[0].endswith(f"buys are planned with {free:,.2f}")
    assert min(s.cash_after for s in plan.steps) >= keep - 0.01  # cash after the step, with the open buys paid


def test_no_buy_when_open_buys_claim_all_cash(store: tuple[EngineContext, pd.DataFrame]) -> None:
    ctx, _ = store
    with ctx.store.write() as s:
        s.add(_order("all", "S06", "buy", 125, limit="80"))  # exactly the 10,000
    plan = build_planner(load_preset("aggressive")).plan(_state(ctx))
    assert not [s for s in plan.steps if s.side == "buy"], plan.steps
    assert plan.notes[0].endswith("buys are planned with 0.00"), plan.notes


def test_a_bucket_is_charged_its_share(store: tuple[EngineContext, pd.DataFrame]) -> None:
    """A bucket planning on 30% of the cash is charged 30% of the commitments (all buckets: the whole of them)."""
    ctx, history = store
    _commit(ctx)
    state = _state(ctx)
    assert committed_of(replace(state, cash=0.3 * CASH)) == pytest.approx(0.3 * _expected(history), abs=1e-6)
