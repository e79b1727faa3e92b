"""A year of one-minute account history written in bulk, for the Performance page's tests and bench.

252 sessions of 390 one-minute snapshots (a US exchange year: 98,280 rows), a seeded random walk of
equity, fills spread over the year on three symbols, the index's regime every 15 minutes, bars of one
symbol, and the equity peak stored through the risk engine's own `update_marks`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
from sqlalchemy import insert

from engine.store.db import Store
from engine.store.models import AccountSnapshot, BarRow, FillRow, Instrument, RegimeSnapshot
from engine.trading.equity import update_marks

SYMBOLS = ("AAA", "BBB", "CCC")
INDEX = "IDX"
REGIMES = ("Bull Quiet", "Bear Volatile", "Sideways")
CHUNK = 10_000


@dataclass(frozen=True)
class History:
    times: pd.DatetimeIndex
    equity: np.ndarray
    fills: pd.DataFrame


def session_minutes(days: int = 252, start: str = "2025-01-02") -> pd.DatetimeIndex:
    """One-minute stamps of `days` weekday sessions, 14:30-21:00 UTC (09:30-16:00 New York in winter)."""
    base = pd.bdate_range(start, periods=days, tz="UTC") + pd.Timedelta(hours=14, minutes=30)
    offsets = pd.to_timedelta(np.arange(390), unit="min")
    stamps = base.tz_convert(None).to_numpy()[:, None] + offsets.to_numpy()[None, :]
    return pd.DatetimeIndex(stamps.ravel()).tz_localize("UTC")


def _bulk(store: Store, table: object, rows: list[dict[str, object]]) -> None:
    for i in range(0, len(rows), CHUNK):
        with store.write() as session:
            session.execute(insert(table), rows[i:i + CHUNK])  # type: ignore[arg-type]


def write_history(store: Store, days: int = 252, seed: int = 7, fills_per_day: int = 12) -> History:
    """Write the history and return what was written (the expectations are computed from it)."""
    rng = np.random.default_rng(seed)
    times = session_minutes(days)
    equity = np.round(100_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0004, len(times)))), 2)
    stamps = [t.to_pydatetime() for t in times]
    _bulk(store, AccountSnapshot, [
        {"ts": t, "broker": "paper", "cash": Decimal(str(e)) / 2, "equity": Decimal(str(e)),
         "buying_power": Decimal(str(e)), "gross_exposure": Decimal(str(e)) / 2} for t, e in zip(stamps, equity, strict=True)])
    fill_pos = np.sort(rng.choice(len(times), size=days * fills_per_day, replace=False))
    fills = pd.DataFrame({"ts": times[fill_pos], "symbol": [SYMBOLS[i % 3] for i in range(len(fill_pos))],
                          "side": ["buy" if (i // 3) % 2 == 0 else "sell" for i in range(len(fill_pos))],
                          "qty": 10.0, "price": np.round(100 + rng.normal(0, 5, len(fill_pos)), 2), "commission": 0.5})
    _bulk(store, FillRow, [
        {"fill_key": f"f{i}", "client_order_id": f"c{i}", "symbol": r.symbol, "side": r.side,
         "qty": Decimal("10"), "price": Decimal(str(r.price)), "commission": Decimal("0.5"),
         "ts": r.ts.to_pydatetime()} for i, r in enumerate(fills.itertuples(index=False))])
    every = times[::15]
    names = [REGIMES[(i // 40) % 3] for i in range(len(every))]  # a new regime every 600 minutes
    _bulk(store, RegimeSnapshot, [
        {"ts": t.to_pydatetime(), "symbol": INDEX, "regime_id": REGIMES.index(n), "regime_name": n,
         "confidence": 0.8, "raw_score": 0.1, "volatility_value": 0.1, "volatility_class": "low",
         "trend_value": 0.1, "trend_class": "up", "time_in_regime_s": 60.0, "modules": {}}
        for t, n in zip(every, names, strict=True)])
    bar_times = times[::5]
    _bulk(store, BarRow, [
        {"symbol": "AAA", "ts": t.to_pydatetime(), "open": 100.0, "high": 101.0, "low": 99.0, "close": 100.0 + i % 7,
         "volume": 1000.0} for i, t in enumerate(bar_times)])
    with store.write() as session:
        session.add(Instrument(symbol=INDEX, kind="index", has_options=False, source="simulated"))
        running = -np.inf
        for t, e in zip(stamps, equity, strict=True):  # the engine raises the peak on each new high
            if e > running:
                running = e
                update_marks(session, t, Decimal(str(e)))
        update_marks(session, stamps[-1], Decimal(str(equity[-1])))
    return History(times=times, equity=equity, fills=fills)


def day_start(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)
