"""Recent returns of the book's names from the store's bars (or a supplied frame of closes).

Returns are taken at the stored bar interval; `bars_per_day` turns one-bar figures into one-day
figures (1 for daily bars, 6.5 h / interval for intraday bars, the US session). Daily returns for
the historical stress scenarios are the close-to-close returns of each calendar date's last bar.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.models import BarRow, Instrument

SESSION_SECONDS = 6.5 * 3600
DAY_SECONDS = 20 * 3600  # a median spacing this long means daily (or slower) bars


@dataclass(frozen=True)
class ReturnsHistory:
    """Aligned closes (rows: bar times, columns: symbols), with the index symbol when there is one.

    The derived arrays are computed once per history (the gateway reuses one history for many orders)."""

    closes: pd.DataFrame
    index_symbol: str | None

    @cached_property
    def _columns(self) -> dict[str, int]:
        return {str(c): i for i, c in enumerate(self.closes.columns)}

    @cached_property
    def _filled(self) -> np.ndarray:
        """Closes with a name's missing bar carrying its last close."""
        return self.closes.ffill().to_numpy(dtype=float)

    @cached_property
    def _returns(self) -> np.ndarray:
        """Simple returns per bar; a name's missing bar carries its last close (a 0 return)."""
        px = self._filled
        if px.shape[0] < 2:
            return np.zeros((0, px.shape[1]))
        with np.errstate(invalid="ignore", divide="ignore"):
            r = px[1:] / px[:-1] - 1.0
        return np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0)

    @property
    def returns(self) -> pd.DataFrame:
        return pd.DataFrame(self._returns, index=self.closes.index[1:], columns=self.closes.columns)

    @cached_property
    def bars_per_day(self) -> float:
        idx = pd.DatetimeIndex(self.closes.index)
        if len(idx) < 2:
            return 1.0
        spacing = pd.Timedelta(float(np.median(np.diff(idx.asi8))), unit=idx.unit).total_seconds()
        if not spacing or spacing >= DAY_SECONDS:
            return 1.0
        return max(1.0, SESSION_SECONDS / spacing)

    @cached_property
    def _daily(self) -> tuple[pd.DatetimeIndex, np.ndarray]:
        """(dates, close-to-close returns per calendar date, UTC) over all columns."""
        if self.closes.empty:
            return pd.DatetimeIndex([]), np.zeros((0, 0))
        idx = pd.DatetimeIndex(self.closes.index)
        day = idx.asi8 // int(pd.Timedelta(days=1) / pd.Timedelta(1, unit=idx.unit))
        last = np.flatnonzero(np.r_[day[1:] != day[:-1], True])  # the last bar of each date
        if len(last) == len(idx):  # daily bars already: the bar returns are the daily returns
            return idx[1:], self._returns
        px = self._filled[last]
        if px.shape[0] < 2:
            return pd.DatetimeIndex([]), np.zeros((0, px.shape[1]))
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.nan_to_num(px[1:] / px[:-1] - 1.0, nan=0.0, posinf=0.0, neginf=0.0)
        return idx[last[1:]], r

    def daily_returns(self) -> pd.DataFrame:
        """Close-to-close returns per calendar date (the historical scenarios' 'days')."""
        dates, r = self._daily
        return pd.DataFrame(r, index=list(dates.date), columns=self.closes.columns)

    def daily_matrix(self, symbols: Iterable[str]) -> tuple[pd.DatetimeIndex, np.ndarray]:
        dates, r = self._daily
        return dates, self._pick(r, symbols)

    def matrix(self, symbols: Iterable[str]) -> np.ndarray:
        """Returns (T x N) in the order of `symbols`; a name without bars has 0 returns."""
        return self._pick(self._returns, symbols)

    def _pick(self, r: np.ndarray, symbols: Iterable[str]) -> np.ndarray:
        names = list(symbols)
        out = np.zeros((r.shape[0], len(names)))
        for j, name in enumerate(names):
            i = self._columns.get(name)
            if i is not None:
                out[:, j] = r[:, i]
        return out


def from_closes(closes: pd.DataFrame, index_symbol: str | None = None) -> ReturnsHistory:
    """A history from a supplied frame of closes (e.g. a user's daily CSV): sorted, numeric."""
    frame = closes.sort_index()
    frame.index = pd.DatetimeIndex(frame.index)
    try:
        frame = frame.astype(float)
    except (TypeError, ValueError):
        frame = frame.apply(pd.to_numeric, errors="coerce")
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
