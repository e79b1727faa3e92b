"""A store holding a small real portfolio for the Planner page's tests and benchmark: daily closes for a few
symbols (engine.planner.synthetic's seeded random walks), positions opened through the paper broker and synced
like the engine does, their fills dated 100 days back (past every minimum hold), and an account snapshot."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import update

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.planner import synthetic
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import BarRow, FillRow, Instrument
from engine.trading import state as ts
from engine.trading.brokers.base import OrderRequest, OrderSide
from engine.trading.sync import sync_from_broker

NOW = synthetic.NOW


@contextmanager
def trader_request(database_url: str, clock: ManualClock,
                   seed: Callable[[EngineContext], object] | None = None) -> Iterator[tuple[Any, EngineContext]]:
    """(app, context): a web-only app (no engine) on a migrated store, inside a request of the trader "tess" as
    the login guard sets it up; `seed` fills the store before the app is built."""
    from app import create_app  # local import: the app is built per test on its own store
    from engine.auth import principal  # local import: only inside the app's request context

    settings = load_settings(database_url=database_url, engine_mode="none")
    ctx = build_context(settings, with_source=False, migrate=True, clock=clock)
    if seed is not None:
        seed(ctx)
    app = create_app(settings, context=ctx)
    try:
        with app.server.test_request_context("/"), principal.acting_as(principal.Principal("tess", "trader", "10.0.0.7")):
            yield app, ctx
    finally:
        ctx.store.dispose()


@contextmanager
def trader_page(tmp_path: Path) -> Iterator[tuple[Any, EngineContext]]:
    """(app, context): the app's request context for the trader "tess", on a seeded portfolio in SQLite."""
    with trader_request(f"sqlite:///{tmp_path}/planner.db", ManualClock(NOW), seed_portfolio) as page:
        yield page


def seed_history(ctx: EngineContext, history: pd.DataFrame) -> None:
    with ctx.store.write() as s:
        ts.ensure_state(s, ctx.clock.now())
        for symbol in history.columns:
            s.add(Instrument(symbol=str(symbol), kind="stock", has_options=False, source="test"))
        for stamp, row in history.iterrows():
            for symbol, close in row.items():
                s.add(BarRow(symbol=str(symbol), ts=stamp.to_pydatetime(), open=float(close), high=float(close) * 1.01,
                             low=float(close) * 0.99, close=float(close), volume=1_000_000.0))


def open_positions(ctx: EngineContext, history: pd.DataFrame, quantities: dict[str, int]) -> None:
    """Buy each quantity at market, fill against the newest bar, sync, then date the fills 100 days back."""
    from engine.market.types import Bar

    last = history.index[-1].to_pydatetime()
    for symbol, qty in quantities.items():
        ctx.broker.submit_order(OrderRequest(f"seed-{symbol}", symbol, OrderSide.BUY, Decimal(qty)))
    bars = [Bar(symbol, last, float(history[symbol].iloc[-1]), float(history[symbol].iloc[-1]) * 1.01,
                float(history[symbol].iloc[-1]) * 0.99, float(history[symbol].iloc[-1]), 1e9) for symbol in quantities]
    ctx.broker.process_bars(bars)
    sync_from_broker(ctx)
    with ctx.store.write() as s:
        s.execute(update(FillRow).values(ts=last - timedelta(days=100)))


def seed_portfolio(ctx: EngineContext, symbols: int = 8, held: int = 3, seed: int = 3) -> pd.DataFrame:
    """`symbols` symbols of 300 daily closes, the first `held` of them held (about 20,000 each)."""
    history = synthetic.history(symbols=symbols, seed=seed)
    seed_history(ctx, history)
    quantities = {str(s): max(1, int(20_000 / float(history[s].iloc[-1]))) for s in history.columns[:held]}
    open_positions(ctx, history, quantities)
    return history


def seeded_app(settings, held: int = 5, seed: int = 3, symbols: int = 8):  # type: ignore[no-untyped-def]
    """A web-only app (no engine: nothing moves unless the test moves it) on a seeded portfolio."""
    from app import create_app
    from engine.clock import ManualClock
    from engine.runtime import build_context

    ctx = build_context(settings, with_source=False, migrate=True, clock=ManualClock(NOW))
    seed_portfolio(ctx, symbols=symbols, held=held, seed=seed)
    return create_app(settings, context=ctx), ctx


def scroll_click(dash_duo, element) -> None:  # type: ignore[no-untyped-def]
    """Click an element after scrolling it to the middle of the window (the preview pushes the tabs down)."""
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", element)
    element.click()


def scroll_to(dash_duo, selector: str):  # type: ignore[no-untyped-def]
    element = dash_duo.wait_for_element(selector, timeout=15)
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", element)
    return element
