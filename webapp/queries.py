"""Memoized store queries for page callbacks: one query per period, shared by every tab and page."""
from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import pandas as pd

from components.chart_patch import full_figure, series_of
from engine.health import deadman
from engine.health.liveness import read_liveness
from engine.market.market_clock import market_clock_of
from engine.store import queries
from webapp.context import get_context
from webapp.live_cache import live_query


def _read(fn, *args, **kwargs):
    with get_context().store.read() as session:
        return fn(session, *args, **kwargs)


@live_query()
def latest_prices() -> list[dict[str, Any]]:
    return _read(queries.latest_prices)


@live_query()
def bars(symbol: str, limit: int = 390) -> pd.DataFrame:
    return _read(queries.bars, symbol, limit)


@live_query()
def chart_series(symbol: str, limit: int) -> dict[str, list[Any]]:
    """The newest `limit` bars of `symbol` as plain lists for a candle chart (components/chart_patch.py)."""
    return series_of(bars(symbol, limit))


@live_query()
def chart_figure(symbol: str, limit: int) -> dict[str, Any]:
    """The whole candle figure of those bars, built once per cache period for every tab that needs it."""
    series = chart_series(symbol, limit)
    return full_figure(series, f"{symbol} · last {len(series['x'])} bars")


@live_query(timeout=60)
def index_symbol() -> str | None:
    return _read(queries.index_symbol)


@live_query()
def account_history(limit: int = 2000) -> pd.DataFrame:
    return _read(queries.account_history, limit)


@live_query()
def latest_account() -> dict[str, Any] | None:
    return _read(queries.latest_account)


@live_query()
def positions() -> list[dict[str, Any]]:
    return _read(queries.positions)


@live_query()
def orders(limit: int = 100, open_only: bool = False) -> list[dict[str, Any]]:
    return _read(queries.orders, limit, open_only)


@live_query()
def fills(limit: int = 200) -> list[dict[str, Any]]:
    return _read(queries.fills, limit)


@live_query()
def heartbeats() -> list[dict[str, Any]]:
    return _read(queries.heartbeats)


@live_query(timeout=5)  # 15 minutes of job runs summarised (thousands of rows): a statistic, not a live value
def job_stats() -> list[dict[str, Any]]:
    return _read(queries.job_stats, now())


@live_query()
def trading_state() -> dict[str, Any] | None:
    return _read(queries.trading_state)


@live_query()
def audit_events(limit: int = 500, action_prefix: str | None = None) -> list[dict[str, Any]]:
    return _read(queries.audit_events, limit, action_prefix)


@live_query()
def regime_snapshots(limit: int = 2000) -> pd.DataFrame:
    return _read(queries.regime_snapshots, limit)


@live_query()
def row_counts() -> dict[str, int]:
    return _read(queries.row_counts)


@live_query()
def liveness():
    """The engine's liveness (heartbeat, lease) as of at most one cache period ago: one read for every tab."""
    return read_liveness(get_context().store, now())


@live_query()
def deadman_view(threshold_s: float, market_open: bool):
    """The banner's engine line (webapp/deadman.py), read once per cache period for every tab and worker."""
    return deadman.read_view(get_context().store, now(), threshold_s, market_open)


def fingerprint(value: Any) -> str:
    """A short digest of what a callback would send, so a refresh that changes nothing sends no_update."""
    return hashlib.blake2b(repr(value).encode(), digest_size=8).hexdigest()


def now() -> datetime:
    return get_context().clock.now()


def market_now() -> datetime:
    """The market clock's time (engine/market/market_clock.py): the clock bars, orders, fills and account
    snapshots carry (the simulated market's own time; the wall clock with Alpaca)."""
    return market_clock_of(get_context()).now()
