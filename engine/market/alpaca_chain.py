"""Alpaca option snapshots as our OptionChain: OCC symbols parsed, prices and greeks rescaled.

Split from alpaca_source.py so the source keeps the requests (when, what, within which deadline)
and this module the pure conversion of alpaca-py's OptionsSnapshot objects, testable without a client.
Snapshots carry quotes, trades, IV and greeks but no open interest or volume: those columns are NaN.
Alpaca quotes vega per 1 vol point and theta per day; the chain contract wants vega per 1.00 of vol
and theta per year, so they are scaled by 100 and 365.
"""
from __future__ import annotations

import logging
import math
import re
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from alpaca.data.models import OptionsSnapshot

from engine.market.types import OptionChain

log = logging.getLogger(__name__)
OCC = re.compile(r"^(?P<root>[A-Z0-9.]{1,6}?)\s*(?P<ymd>\d{6})(?P<kind>[CP])(?P<strike>\d{8})$")
VEGA_SCALE = 100.0  # per vol point -> per 1.00 of vol
THETA_SCALE = 365.0  # per day -> per year
EXPIRY_TZ = ZoneInfo("America/New_York")  # US-listed options expire on a New York date


def expiry_today(now: datetime) -> date:
    """The date expiries count from: New York's, not UTC's. From 19:00/20:00 New York time the UTC date is
    already tomorrow, and tomorrow's expiry then read 0 days (an expiry day to the regime classifier)."""
    return (now if now.tzinfo is not None else now.replace(tzinfo=UTC)).astimezone(EXPIRY_TZ).date()


def parse_occ(symbol: str) -> tuple[str, date, str, float]:
    """(root, expiry, "C"|"P", strike) from an OCC option symbol such as AAPL240119C00100000."""
    m = OCC.match(symbol.strip().upper())
    if not m:
        raise ValueError(f"not an OCC option symbol: {symbol!r}")
    ymd = m.group("ymd")
    expiry = date(2000 + int(ymd[:2]), int(ymd[2:4]), int(ymd[4:6]))
    return m.group("root"), expiry, m.group("kind"), int(m.group("strike")) / 1000.0


def _f(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _price(s: OptionsSnapshot) -> float:
    q = s.latest_quote
    if q is not None and q.bid_price and q.ask_price and q.bid_price > 0 and q.ask_price > 0:
        return (q.bid_price + q.ask_price) / 2.0
    return _f(s.latest_trade.price) if s.latest_trade is not None else float("nan")


def build_chain(underlying: str, snapshots: dict[str, OptionsSnapshot], spot: float, now: datetime) -> OptionChain:
    """An OptionChain from snapshots keyed by OCC symbol; expired or unparsable contracts are skipped."""
    rows, today = [], expiry_today(now)
    for occ, snap in snapshots.items():
        try:
            _, expiry, kind, strike = parse_occ(occ)
        except ValueError:
            log.warning("skipping option %s of %s: not an OCC symbol", occ, underlying)
            continue
        days = (expiry - today).days
        if days < 0:
            continue
        g = snap.greeks
        rows.append((
            float(days), strike, kind, _f(snap.implied_volatility), _price(snap),
            _f(g.delta) if g else math.nan, _f(g.gamma) if g else math.nan,
            _f(g.vega) * VEGA_SCALE if g else math.nan, _f(g.theta) * THETA_SCALE if g else math.nan,
        ))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    cols: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [() for _ in range(9)]

    def arr(i: int) -> np.ndarray:
        return np.asarray(cols[i], dtype=float)

    return OptionChain(
        underlying=underlying, ts=now, spot=spot,
        expiry_days=arr(0), strike=arr(1), kind=np.asarray(cols[2], dtype="<U1"), iv=arr(3), price=arr(4),
        delta=arr(5), gamma=arr(6), vega=arr(7), theta=arr(8),
        open_interest=np.full(len(rows), np.nan), volume=np.full(len(rows), np.nan),
    )
