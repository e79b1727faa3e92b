"""ATR from the bars of the regular session, for the ATR trailing stop (protect.py) and the manual ticket's size.

The regime classifies regular-session bars only (regime_stage -> regular_session_bars); the ATRs that size
and trail positions read the same bars: Alpaca's thin pre-market and after-hours minutes have narrow ranges
that shrank the ATR (2.8x larger positions just after the open; audit finding 8). Without an exchange every
stored bar counts, as before.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import talib
from sqlalchemy import desc, select
from sqlalchemy.orm import Session

from engine.market.exchange import MarketCalendar
from engine.store.models import BarRow

PAGE = 1_000  # rows read at a time, newest first: a trading day has up to 960 extended-hours minutes
MAX_PAGES = 8  # about a week of minute bars; an older session is not a current ATR


def recent_hlc(session: Session, symbol: str, keep: int, calendar: MarketCalendar | None,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """High, low and close of the newest `keep` bars of `symbol`, oldest first (regular-session bars only with an
    exchange calendar)."""
    query = select(BarRow.ts, BarRow.high, BarRow.low, BarRow.close).where(BarRow.symbol == symbol)
    if calendar is None or calendar.exchange is None:
        rows = [(h, lo, c) for _t, h, lo, c in session.execute(query.order_by(desc(BarRow.ts)).limit(keep))]
    else:
        rows = []
        for _ in range(MAX_PAGES):
            page = session.execute(query.order_by(desc(BarRow.ts)).limit(PAGE)).all()
            mask = calendar.regular_session_mask(pd.to_datetime(pd.Series([r[0] for r in page]), utc=True))
            rows += [(h, lo, c) for (_t, h, lo, c), ok in zip(page, mask, strict=True) if ok]
            if len(rows) >= keep or len(page) < PAGE:
                break
            query = query.where(BarRow.ts < page[-1][0])
    rows = rows[:keep][::-1]
    if not rows:
        empty = np.zeros(0, dtype=float)
        return empty, empty, empty
    high, low, close = (np.asarray(col, dtype=float) for col in zip(*rows, strict=True))
    return high, low, close


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> float | None:
    """Wilder's ATR of the last bar (talib); None without `period` + 1 bars or when it is not a positive number."""
    if len(close) <= period:
        return None
    value = float(talib.ATR(high, low, close, timeperiod=period)[-1])
    return value if math.isfinite(value) and value > 0 else None


def atr_of_recent(session: Session, symbol: str, period: int, keep: int, calendar: MarketCalendar | None,
                  ) -> float | None:
    """The ATR over the newest `keep` bars of `symbol` that the session counts (see recent_hlc)."""
    return atr(*recent_hlc(session, symbol, keep, calendar), period)
