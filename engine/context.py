"""What every engine job and control action receives: settings, store, clock, broker, market source.

Built once per process by engine.runtime.build_context(settings). No module keeps these as globals.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.clock import Clock
from engine.health.outage import StoreOutage
from engine.lease import LeaseFence
from engine.market.market_clock import MarketClock, WallMarketClock
from engine.market.types import MarketSource
from engine.protocols import BarHistory
from engine.settings import Settings
from engine.store.db import Store
from engine.trading.brokers.base import Broker


@dataclass
class EngineContext:
    settings: Settings
    store: Store
    clock: Clock
    broker: Broker
    source: MarketSource | None  # None in a web-only process
    engine_id: str = field(default="")
    fence: LeaseFence | None = None  # set in an engine process only: its writes check the lease (engine/lease.py)
    # The time market events carry (engine/market/market_clock.py): bars, orders, fills, account and regime
    # snapshots. `clock` stays the wall clock for audit, commands, state changes, heartbeats and health.
    # None: the market runs on `clock` (contexts built by hand in tests and tools).
    market_clock: MarketClock | None = None
    store_outage: StoreOutage | None = None  # an engine process only: job runs kept while the store is down
    bars: BarHistory | None = None  # a backtest only: its bars in memory, read instead of the store's (same rows)
    record_job_runs: bool = True  # False in a backtest: job outcomes are logged, not stored as job_runs rows
    # False in a backtest's private store: no trader's Send and no second engine can send there, so the planner
    # skips its one-send claim per portfolio (engine/planner/send_guard.py); the orders are the same
    other_senders: bool = True

    def __post_init__(self) -> None:
        if self.market_clock is None:
            self.market_clock = WallMarketClock(self.clock)
