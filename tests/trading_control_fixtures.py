"""Shared set-up for the trade-control tests and the kill-switch benchmark: a migrated SQLite
store, a paper broker with prices, open orders and positions, and a live-engine heartbeat."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.clock import Clock, ManualClock
from engine.context import EngineContext
from engine.market.types import Bar
from engine.settings import load_settings
from engine.store.db import Store
from engine.store.migrate import open_store
from engine.store.models import BarRow, EngineHeartbeat, Instrument, OrderRow, PaperAccount, PaperPosition
from engine.trading import state as ts
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.brokers.base import Broker, OrderRequest, OrderSide, OrderType
from engine.trading.brokers.paper import PaperBroker
from engine.trading.control import SimpleControlContext
from engine.trading.risk_limits import RiskLimits
from engine.trading.sync import sync_from_broker
from tests.fake_alpaca import FakeAlpacaServer

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
SYMBOLS = ("AAA", "BBB")
PRICE = 100.0
# Risk limits no test order comes near, for tests about something else than the pre-trade checks.
LOOSE = RiskLimits(max_order_qty=Decimal(1_000_000), max_order_notional=Decimal(10**9),
                   max_position_notional=Decimal(10**9), max_gross_exposure_pct=Decimal(1000),
                   price_collar_pct=Decimal(50), daily_loss_limit_pct=Decimal(50), max_drawdown_pct=Decimal(50),
                   stale_data_seconds=3600, max_rejections=1000)


def make_store(tmp_path: Path, url: str | None = None) -> Store:
    return open_store(url or f"sqlite:///{tmp_path}/control.db", migrate=True)


def seed_market(store: Store, clock: Clock, symbols: tuple[str, ...] = SYMBOLS, price: float = PRICE) -> None:
    now = clock.now()
    with store.write() as s:
        ts.ensure_state(s, now)
        for sym in symbols:
            s.add(Instrument(symbol=sym, kind="stock", has_options=False, source="test"))
            s.add(BarRow(symbol=sym, ts=now - timedelta(minutes=1), open=price, high=price + 1, low=price - 1,
                         close=price, volume=1_000_000))


def make_ctx(tmp_path: Path, clock: Clock | None = None, url: str | None = None) -> SimpleControlContext:
    clock = clock or ManualClock(T0)
    store = open_store(url, migrate=True) if url else make_store(tmp_path)
    seed_market(store, clock)
    broker = PaperBroker(store, clock, starting_cash=Decimal(10_000_000), slippage_bps=Decimal(0),
                         commission_per_share=Decimal(0), participation=Decimal(1))
    return SimpleControlContext(store=store, clock=clock, broker=broker)


@contextmanager
def broker_context(tmp_path: Path, url: str, make_broker: Callable[[ManualClock], Broker],
                   limits: RiskLimits, start: datetime | None = None) -> Iterator[EngineContext]:
    """An engine context (no market source) on the seeded market at `start` (T0) whose broker is
    `make_broker(clock)`, synced once first: the gateway refuses orders until there is an account snapshot."""
    store = open_store(url, migrate=True)
    clock = ManualClock(start or T0)
    seed_market(store, clock)
    settings = load_settings(database_url=url, market_source="csv", csv_dir=tmp_path)
    context = EngineContext(settings=settings, store=store, clock=clock, broker=make_broker(clock), source=None)
    try:
        sync_from_broker(context, limits)
        yield context
    finally:
        store.dispose()


def place_resting_orders(ctx: SimpleControlContext, n: int, prefix: str = "rest") -> list[str]:
    """n buy limits far below the market (they stay open), recorded in our orders table too."""
    ids = []
    now = ctx.clock.now()
    with ctx.store.write() as s:
        for i in range(n):
            sym = SYMBOLS[i % len(SYMBOLS)]
            s.add(OrderRow(client_order_id=f"{prefix}-{i}", broker_order_id=None, symbol=sym, side="buy",
                           qty=Decimal(1), order_type="limit", limit_price=Decimal(50), status="pending_new",
                           origin="planner", actor="test", param_version_id=None, created_at=now, updated_at=now))
    for i in range(n):
        sym = SYMBOLS[i % len(SYMBOLS)]
        order = ctx.broker.submit_order(OrderRequest(f"{prefix}-{i}", sym, OrderSide.BUY, Decimal(1),
                                                     OrderType.LIMIT, Decimal(50)))
        ids.append(order.broker_order_id)
    with ctx.store.write() as s:
        for i, bid in enumerate(ids):
            row = s.query(OrderRow).filter_by(client_order_id=f"{prefix}-{i}").one()
            row.broker_order_id, row.status = bid, "new"
    return ids


def open_position(ctx: SimpleControlContext, symbol: str, qty: int) -> None:
    """Buy (qty > 0) or sell short (qty < 0) at market and fill it against the next bar."""
    side = OrderSide.BUY if qty > 0 else OrderSide.SELL
    ctx.broker.submit_order(OrderRequest(f"pos-{symbol}-{qty}", symbol, side, Decimal(abs(qty))))
    fill_next_bar(ctx, symbol)


def fill_next_bar(ctx: SimpleControlContext, symbol: str, price: float = PRICE) -> None:
    with ctx.store.read() as s:
        n = s.query(BarRow).filter_by(symbol=symbol).count()
    bar = Bar(symbol, T0 + timedelta(minutes=n), price, price + 1, price - 1, price, 1_000_000)
    with ctx.store.write() as s:
        s.add(BarRow(symbol=symbol, ts=bar.ts, open=bar.open, high=bar.high, low=bar.low, close=bar.close,
                     volume=bar.volume))
    ctx.broker.process_bars([bar])


def beat(store: Store, when: datetime, engine_id: str = "test-engine") -> None:
    """Pretend an engine is alive (or, with an old `when`, that it died then)."""
    with store.write() as s:
        row = s.get(EngineHeartbeat, engine_id)
        if row is None:
            s.add(EngineHeartbeat(engine_id=engine_id, host="test", pid=1, started_at=when, last_beat=when,
                                  status="active"))
        else:
            row.last_beat = when


@contextmanager
def alpaca_context(tmp_path: Path, url: str, server: FakeAlpacaServer, limits: RiskLimits | None = None,
                   start: datetime | None = None) -> Iterator[EngineContext]:
    """broker_context on an AlpacaBroker talking real HTTP to `server` (the fake), at `start` (now by default)."""
    def broker(clock: ManualClock) -> AlpacaBroker:
        return AlpacaBroker(server.key_id, server.secret_key, paper=True, url_override=server.url, timeout_s=1.0,
                            retry_wait_s=0.01, retry_max_wait_s=0.05, clock=clock)

    with broker_context(tmp_path, url, broker, limits or LOOSE,
                        start=start or datetime.now(UTC).replace(microsecond=0)) as context:
        yield context


def alpaca_fixtures() -> tuple[Any, Any]:
    """Module fixtures `server` (the fake Alpaca) and `ctx` (alpaca_context on it, SQLite and PostgreSQL), for a test
    module of the Alpaca broker: `server, ctx = alpaca_fixtures()`."""
    @pytest.fixture(name="server")
    def server_fixture() -> Iterator[FakeAlpacaServer]:
        with FakeAlpacaServer() as srv:
            yield srv

    @pytest.fixture(name="ctx")
    def ctx_fixture(tmp_path: Path, any_db_url: str, server: FakeAlpacaServer) -> Iterator[EngineContext]:
        with alpaca_context(tmp_path, any_db_url, server) as context:
            yield context

    return server_fixture, ctx_fixture


def hold_at_100(c: Any, cash: Decimal, limits: RiskLimits, at: datetime, **qty: int) -> None:
    """Paper positions bought (or shorted) at 100 out of `cash` (equity stays `cash` while the marks are 100);
    the store learns them by a sync, as from the broker."""
    with c.store.write() as s:
        acct = s.get(PaperAccount, 1) or PaperAccount(id=1, cash=cash, realized_pnl=Decimal(0),
                                                      commissions=Decimal(0), updated_at=at)
        for sym, q in qty.items():
            s.add(PaperPosition(symbol=sym, qty=Decimal(q), avg_entry_price=Decimal(100)))
            acct.cash -= Decimal(q) * Decimal(100)
        s.merge(acct)
    sync_from_broker(c, limits)
