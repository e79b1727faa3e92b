"""Recent returns of the book's names from the store's bars (or a supplied frame of closes).

Returns are taken at the stored bar interval; `bars_per_day` turns one-bar figures into one-day
figures (1 for daily bars, 6.5 h / interval for intraday bars, the US session). Daily returns for
the historical stress scenarios are the close-to-close returns of each calendar date's last bar.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.models import BarRow, Instrument

SESSION_SECONDS = 6.5 * 3600
DAY_SECONDS = 20 * 3600  # a median spacing this long means daily (or slower) bars


@dataclass(frozen=True)
class ReturnsHistory:
    """Aligned closes (rows: bar times, columns: symbols), with the index symbol when there is one."""

    closes: pd.DataFrame
    index_symbol: str | None

    @property
    def returns(self) -> pd.DataFrame:
        """Simple returns per bar; a name's missing bar carries its last close (a 0 return)."""
        return self.closes.ffill().pct_change().iloc[1:].fillna(0.0)

    @property
    def bars_per_day(self) -> float:
        if len(self.closes.index) < 2:
            return 1.0
        spacing = pd.Series(self.closes.index).diff().dt.total_seconds().median()
        if not spacing or spacing >= DAY_SECONDS:
            return 1.0
        return max(1.0, SESSION_SECONDS / float(spacing))

    def daily_returns(self) -> pd.DataFrame:
        """Close-to-close returns per calendar date (the historical scenarios' 'days')."""
        closes = self.closes.ffill()
        daily = closes.groupby(pd.DatetimeIndex(closes.index).date).last()
        return daily.pct_change().iloc[1:].fillna(0.0)

    def matrix(self, symbols: Iterable[str]) -> np.ndarray:
        """Returns (T x N) in the order of `symbols`; a name without bars has 0 returns."""
        r = self.returns
        return r.reindex(columns=list(symbols), fill_value=0.0).to_numpy(dtype=float)


def from_closes(closes: pd.DataFrame, index_symbol: str | None = None) -> ReturnsHistory:
    """A history from a supplied frame of closes (e.g. a user's daily CSV): sorted, numeric."""
    frame = closes.sort_index().apply(pd.to_numeric, errors="coerce")
    return ReturnsHistory(frame, index_symbol)


def load(session: Session, symbols: Iterable[str], lookback_bars: int) -> ReturnsHistory:
    """The last `lookback_bars` + 1 bars of the names and of the index, aligned on bar time."""
    index_symbol = session.scalar(select(Instrument.symbol).where(Instrument.kind == "index").limit(1))
    wanted = sorted(set(symbols) | ({index_symbol} if index_symbol else set()))
    if not wanted:
        return ReturnsHistory(pd.DataFrame(), index_symbol)
    anchor = index_symbol or wanted[0]
    cutoff = session.scalar(select(BarRow.ts).where(BarRow.symbol == anchor).order_by(BarRow.ts.desc())
                            .offset(lookback_bars).limit(1))
    stmt = select(BarRow.symbol, BarRow.ts, BarRow.close).where(BarRow.symbol.in_(wanted))
    if cutoff is not None:
        stmt = stmt.where(BarRow.ts >= cutoff)
    rows = session.execute(stmt).all()
    if not rows:
        return ReturnsHistory(pd.DataFrame(columns=wanted), index_symbol)
    frame = pd.DataFrame(rows, columns=["symbol", "ts", "close"])
    wide = frame.pivot_table(index="ts", columns="symbol", values="close", aggfunc="last").sort_index()
    return ReturnsHistory(wide.tail(lookback_bars + 1).astype(float), index_symbol)
