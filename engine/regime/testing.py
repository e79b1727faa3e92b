"""Helpers for regime tests and benchmarks: edited parameter sets and synthetic data.

Edited ParamSets go through the params package's canonical form and validation, so tests use real,
validated parameter versions (never stand-ins).
"""
from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from engine.market.options import bs_price_greeks
from engine.market.types import OptionChain
from engine.params import ParamSet
from engine.regime.intraday import IntradayClock
from engine.regime.modules.base import Frame
from engine.regime.series import PriceBuffer, TimeBase, local_clock, log_returns, session_starts


def edited(ps: ParamSet, kv: dict[tuple[str, str], Any] | None = None,
           cells: dict[tuple[str, str, int, str], Any] | None = None) -> Any:
    """A validated copy of ``ps`` with key/value edits {(sheet, name): v} (any kv section of the sheet)
    and table edits {(sheet, section, row, column): v}."""
    d = copy.deepcopy(ps.to_canonical())
    sheets = d["sheets"]
    for (sheet, name), v in (kv or {}).items():
        for sec in sheets[sheet].values():
            if isinstance(sec, dict) and name in sec:
                sec[name] = v
                break
        else:
            raise KeyError(f"{sheet} has no key/value parameter {name}")
    for (sheet, section, row, column), v in (cells or {}).items():
        sheets[sheet][section][row][column] = v
    return ParamSet.from_canonical(d)


def ohlcv(close: np.ndarray, start: datetime | None = None, minutes: float = 1.0, spread: float = 0.001,
          volume: float | np.ndarray = 1000.0) -> pd.DataFrame:
    """Bars around a close path: open = previous close, high/low a fixed fraction outside."""
    close = np.asarray(close, dtype=float)
    start = start or datetime(2026, 1, 5, 3, 45, tzinfo=UTC)
    opens = np.r_[close[0], close[:-1]]
    hi = np.maximum(opens, close) * (1 + spread)
    lo = np.minimum(opens, close) * (1 - spread)
    ts = [start + timedelta(minutes=minutes * k) for k in range(len(close))]
    vol = np.broadcast_to(np.asarray(volume, dtype=float), close.shape).copy()
    return pd.DataFrame({"timestamp": pd.to_datetime(ts, utc=True), "open": opens, "high": hi, "low": lo,
                         "close": close, "volume": vol})


def chain(spot: float, ts: datetime, expiries: tuple[float, ...] = (7.0, 30.0), n_strikes: int = 41,
          step: float | None = None, atm_iv: float = 0.2, skew: float = -0.1, term: float = 0.0,
          call_oi: float = 1000.0, put_oi: float = 1000.0, underlying: str = "TEST") -> OptionChain:
    """A Black-Scholes chain: smile atm_iv * (1 + skew * log-moneyness / 0.1), term slope per 30 days."""
    step = step or round(spot * 0.005, 2)
    half = n_strikes // 2
    center = round(spot / step) * step
    ks = center + step * np.arange(-half, half + 1)
    exp, strike, call = [], [], []
    for e in expiries:
        for k in ks:
            for c in (True, False):
                exp.append(e)
                strike.append(k)
                call.append(c)
    exp_a, k_a, c_a = np.array(exp), np.array(strike), np.array(call)
    t = exp_a / 365.0
    iv = atm_iv * (1 + term * (exp_a - expiries[0]) / 30.0) * (1 + skew * np.log(k_a / spot) / 0.1)
    iv = np.maximum(iv, 0.02)
    price, g = bs_price_greeks(spot, k_a, t, iv, c_a)
    dist = np.abs(k_a - spot) / (step * 5)
    oi = np.where(c_a, call_oi, put_oi) * np.exp(-0.5 * dist * dist)
    return OptionChain(underlying, ts, float(spot), exp_a, k_a, np.where(c_a, "C", "P"), iv, price,
                       g.delta, g.gamma, g.vega, g.theta, oi, oi * 0.1)


def frame_for(df: pd.DataFrame, ps: ParamSet, peers: dict[str, np.ndarray] | None = None):
    """The Frame the classifier would build for these bars (all rows emitted)."""
    clk = IntradayClock(ps)
    buf = PriceBuffer.from_frame(df)
    tb = TimeBase.infer(buf.ts, clk.session_minutes)
    if tb is None:
        raise ValueError("frame_for needs more than 20 bars")
    day, minute = local_clock(buf.ts, clk.tz)
    if not tb.intraday:
        day = np.arange(len(buf), dtype=np.int64)
    return Frame(buf, tb, day, minute, session_starts(day), log_returns(buf.close), np.arange(len(buf)),
                 dict(peers or {}))
