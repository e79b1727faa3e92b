"""Build an EngineContext from settings: store, clock, market source and broker.

The web process builds one without a market source (it reads the store and, for the kill
switch when the engine is down, talks to the broker); the engine process builds the full one.
"""
from __future__ import annotations

import logging
import os
import socket
import uuid

from engine.clock import Clock, SystemClock
from engine.context import EngineContext
from engine.market.exchange import alpaca_calendar
from engine.market.market_clock import build_market_clock
from engine.market.types import MarketSource
from engine.settings import BrokerName, MarketSourceName, Settings
from engine.store.db import Store
from engine.store.migrate import open_store
from engine.trading.brokers.base import Broker
from engine.trading.brokers.paper import PaperBroker

log = logging.getLogger(__name__)


def build_source(settings: Settings) -> MarketSource:
    if settings.market_source is MarketSourceName.SIMULATED:
        # local import: only the configured market source loads (pandas, scipy)
        from engine.market.simulated import SimulatedMarket

        return SimulatedMarket(seed=settings.sim_seed, minutes_per_poll=settings.sim_minutes_per_tick)
    if settings.market_source is MarketSourceName.CSV:
        # local import: only the configured market source loads (pandas)
        from engine.market.csv_source import CsvReplaySource

        assert settings.csv_dir is not None
        return CsvReplaySource(settings.csv_dir, index_symbol=settings.csv_index_symbol,
                               vol_index_symbol=settings.csv_vol_index_symbol)
    # local import: alpaca-py loads only with the Alpaca source
    from engine.market.alpaca_source import build_alpaca_source

    return build_alpaca_source(settings)


def build_broker(settings: Settings, store: Store, clock: Clock) -> Broker:
    if settings.broker is BrokerName.PAPER:
        calendar = None
        if settings.market_source is MarketSourceName.ALPACA:  # real US equities: Alpaca's session rules apply

            calendar = alpaca_calendar()
            calendar.trading_day(clock.now())  # load XNYS now (~0.7 s), not inside a kill switch's first sync
        return PaperBroker(
            store=store,
            clock=clock,
            starting_cash=settings.paper_starting_cash,
            slippage_bps=settings.paper_slippage_bps,
            commission_per_share=settings.paper_commission_per_share,
            participation=settings.paper_participation,
            calendar=calendar,
            extended_hours=settings.alpaca_extended_hours,
        )
    # local import: alpaca-py loads only with the Alpaca broker
    from engine.trading.brokers.alpaca import build_alpaca_broker

    return build_alpaca_broker(settings)


def build_context(
    settings: Settings,
    *,
    with_source: bool,
    migrate: bool,
    clock: Clock | None = None,
    store: Store | None = None,
) -> EngineContext:
    clock = clock or SystemClock()
    store = store or open_store(settings.database_url, migrate=migrate)
    market_clock = build_market_clock(settings, store, clock)  # fills and the paper books carry market time
    broker = build_broker(settings, store, market_clock)
    source = build_source(settings) if with_source else None
    engine_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    return EngineContext(settings=settings, store=store, clock=clock, broker=broker, source=source, engine_id=engine_id,
                         market_clock=market_clock)
