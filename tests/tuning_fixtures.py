"""Constructed history for the tuning tests: the simulated market's index (500 one-minute bars) with its
true regime path (and every symbol's frame, for the backtest validation), a deliberately poor current
version (emergency transitions at 0.8, at most 3 transitions a day) that a tuning run can improve within the
workbook's expansion limit, and a steady constructed up-trend on which a version that trades beats one that
cannot (TradingRisk max_order_notional 1: the order gateway refuses every order)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.market.simulated import SimulatedMarket
from engine.params.paramset import ParamSet, default_params
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.db import Store
from engine.store.models import BarRow, Instrument
from engine.tuning.edit import edited

EMERGENCY = ("TransitionManagement", "main", "emergency_transition_threshold")
PER_DAY = ("StabilityConfiguration", "main", "max_transitions_per_day")
SPACE = (EMERGENCY, PER_DAY, ("StabilityConfiguration", "main", "confirmation_window"),
         ("NoiseFiltering", "main", "spike_threshold"))  # a small search space: a few trials suffice
NO_TRADE = ("TradingRisk", "main", "max_order_notional")
FOLDS = ("ValidationFramework", "main", "cross_validation_folds")


@lru_cache(maxsize=1)
def _market(n: int) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    m = SimulatedMarket(seed=7)
    bars, truth = m.history(n)
    return bars.rename(columns={"ts": "timestamp"}), truth, m.index_symbol()


def history(n: int = 500) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    bars, truth, sym = _market(n)
    return bars[bars["symbol"] == sym].drop(columns="symbol").reset_index(drop=True), truth, sym


def frames(n: int = 500) -> dict[str, pd.DataFrame]:
    """Every simulated symbol's bars over the same minutes as history(n) (the backtests trade them)."""
    bars, _truth, _sym = _market(n)
    cols = ["timestamp", "open", "high", "low", "close", "volume"]
    return {str(s): g[cols].reset_index(drop=True) for s, g in bars.groupby("symbol", sort=True)}


def poor_version(**switches: object) -> ParamSet:
    changes: dict[tuple[str, str, str], object] = {EMERGENCY: 0.8, PER_DAY: 3}
    changes.update({("AdaptiveTuning", "main", k): v for k, v in switches.items()})
    return edited(default_params(), changes)


def no_trade(ps: ParamSet) -> ParamSet:
    """`ps` whose every order the gateway refuses (1 $ per order at most)."""
    return edited(ps, {NO_TRADE: 1.0})


def trend_frames(n: int = 300, symbols: tuple[str, ...] = ("IDX", "ALFA", "BRVO"), seed: int = 3) -> dict[str, pd.DataFrame]:
    """Daily bars rising ~0.4 % a day with 0.4 % noise: a version that buys them earns, one that cannot does not."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2020-01-01", periods=n, freq="B", tz="UTC")
    out = {}
    for s in symbols:
        r = 0.004 + 0.004 * rng.standard_normal(n)
        close = 100.0 * np.exp(np.cumsum(r))
        op = close / np.exp(r)
        out[s] = pd.DataFrame({"timestamp": ts, "open": op, "high": np.maximum(op, close) * 1.002,
                               "low": np.minimum(op, close) * 0.998, "close": close, "volume": 1e6})
    return out



def store_trend_bars(store: Store, n: int = 300) -> None:
    """trend_frames(n) written to the store: each symbol's instrument (IDX the index) and its daily bars."""
    with store.write() as s:
        for sym, f in trend_frames(n).items():
            s.add(Instrument(symbol=sym, kind="index" if sym == "IDX" else "stock", source="csv"))
            for r in f.to_dict("records"):
                s.add(BarRow(symbol=sym, ts=r["timestamp"].to_pydatetime(), open=r["open"], high=r["high"],
                             low=r["low"], close=r["close"], volume=r["volume"]))


@contextmanager
def tuning_app(database_url: str) -> Iterator[tuple[Any, EngineContext]]:
    """The web app (engine mode none) on its own context over a migrated store at `database_url`, with a manual
    clock: (Dash app, context). The store is disposed of on leaving."""
    from app import create_app  # local import: the web app is built only by the tests that serve it

    settings = load_settings(database_url=database_url, engine_mode="none")
    ctx = build_context(settings, with_source=False, migrate=True, clock=ManualClock())
    try:
        yield create_app(settings, context=ctx), ctx
    finally:
        ctx.store.dispose()

def pending_proposal(ctx) -> int:  # type: ignore[no-untyped-def]
    """A tuning run's proposal waiting for approval on the stored poor version (PER_DAY 3 -> 4), with a
    one-fold backtest validation table (out-of-sample gain 25 %); returns the proposal's id."""
    from engine.params.versions import apply_version
    from engine.tuning import proposals
    from engine.tuning.tuner import Change, TuningResult
    from engine.tuning.validation import ValidationReport

    cur = apply_version(ctx.store, poor_version(require_human_approval=True), "alice", "ui", clock=ctx.clock)
    folds = pd.DataFrame([{"fold": 1, "start": pd.Timestamp("2026-01-05 15:00", tz="UTC"),
                           "end": pd.Timestamp("2026-01-05 15:40", tz="UTC"), "bars": 40, "current": 0.4,
                           "candidate": 0.5, "current_return": 0.0, "candidate_return": 0.01, "buy_hold": 0.002,
                           "cash": 0.0}])
    result = TuningResult([Change(PER_DAY, 3.0, 4.0)], edited(cur, {PER_DAY: 4}), 1, 0.0, 0.4, 0.5,
                          ValidationReport(folds, gain=0.25, source="backtest", measure="backtest sharpe"), True,
                          "out-of-sample gain +25.0%")
    return proposals.record(ctx.store, cur, result, seed=1, clock=ctx.clock)


def live_snapshots(ctx, version_id: int, n: int, accurate: bool) -> None:  # type: ignore[no-untyped-def]
    """n stored snapshots under a version: all correct or all wrong against the true path (objective ACCURACY)."""
    # local import: the store models, only for the tests that write live history
    from engine.store.models import RegimeSnapshot, TrueRegimeRow

    sym = ctx.source.index_symbol()
    with ctx.store.write() as s:
        for _ in range(n):
            ts = ctx.clock.advance(timedelta(minutes=1))
            s.add(RegimeSnapshot(ts=ts, symbol=sym, regime_id=1, regime_name="R", confidence=0.7, raw_score=0.1,
                                 volatility_value=0.2, trend_value=0.0, volatility_class="Low",
                                 trend_class="Bullish" if accurate else "Bearish", time_in_regime_s=60.0,
                                 param_version_id=version_id, modules={}))
            s.merge(TrueRegimeRow(ts=ts, trend="up", volatility="low"))
