"""A symbol whose buy is still being sliced (a working TWAP parent, no child placed yet) is busy, like a symbol with
an open order: neither the Planner page nor the engine's planner job plans it again. Before, a second preview + Send
(or a second engine cycle) placed a second parent for the same symbols."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.params.versions import active_params
from engine.planner import job as planner_job
from engine.planner.portfolio import portfolio_state
from engine.planner.preset import load_preset
from engine.store.models import BarRow, OrderRow, ParentOrder
from tests.planner_page_fixtures import NOW, seed_portfolio, trader_request
from webapp.planner_callbacks import send_shown_plan
from webapp.planner_preview import all_presets, preview


@pytest.fixture()
def page(any_db_url: str) -> Iterator[tuple[Any, EngineContext]]:
    with trader_request(any_db_url, ManualClock(NOW), lambda ctx: seed_portfolio(ctx, held=5, seed=3)) as (app, c):
        yield app, c


def _buy_commitments(ctx: EngineContext) -> tuple[Counter[str], set[str]]:
    """(buy parents + planner buy orders per symbol, symbols with a working parent), read from the store."""
    with ctx.store.read() as s:
        parents = [(p.symbol, p.side, p.status) for p in s.scalars(select(ParentOrder))]
        orders = [(o.symbol, o.side) for o in s.scalars(select(OrderRow).where(OrderRow.origin == "planner"))]
    buys = Counter(sym for sym, side, _ in parents if side == "buy") + Counter(sym for sym, side in orders
                                                                              if side == "buy")
    return buys, {sym for sym, _, status in parents if status == "active"}


def test_the_page_does_not_plan_a_symbol_whose_parent_is_working(page: tuple[Any, EngineContext]) -> None:
    _, ctx = page
    first = preview(all_presets()["conservative"])
    send_shown_plan(first.key, first.portfolio)
    _, working = _buy_commitments(ctx)
    assert working, "the conservative plan on this portfolio is sent as sliced (TWAP) parents"
    with ctx.store.read() as s:
        assert working <= portfolio_state(s, active_params(s)).open_symbols  # busy, like an open order
    second = preview(all_presets()["conservative"])
    assert not {st.symbol for st in second.plan.steps} & working, second.plan.steps
    send_shown_plan(second.key, second.portfolio)
    buys, _ = _buy_commitments(ctx)
    assert buys and all(n == 1 for n in buys.values()), f"a symbol bought twice while its buy works: {buys}"


def test_the_engine_job_does_not_buy_again_while_a_parent_works(page: tuple[Any, EngineContext],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Two cycles one bar apart with auto-trading on, the conservative preset in force, no child placed between."""
    _, ctx = page
    auto = replace(ctx, settings=ctx.settings.model_copy(update={"autotrade": True}))
    monkeypatch.setattr(planner_job, "preset_for_regime", lambda s, r, h=None: (load_preset("conservative"), "test"))
    first = planner_job.run_planner_job(auto)
    assert first is not None and first.steps
    _, working = _buy_commitments(ctx)
    assert working
    with ctx.store.write() as s:  # one new bar per symbol a minute later, same close
        last = s.scalar(select(BarRow.ts).order_by(BarRow.ts.desc()).limit(1))
        for b in list(s.scalars(select(BarRow).where(BarRow.ts == last))):
            s.add(BarRow(symbol=b.symbol, ts=last + timedelta(minutes=1), open=b.close, high=b.high, low=b.low,
                         close=b.close, volume=b.volume))
    second = planner_job.run_planner_job(auto)
    assert second is not None
    assert not {st.symbol for st in second.steps if st.side == "buy"} & working, second.steps
    buys, _ = _buy_commitments(ctx)
    assert all(n == 1 for n in buys.values()), buys
