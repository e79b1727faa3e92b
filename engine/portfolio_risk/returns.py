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

from engine.protocols import BarHistory
from engine.store.models import BarRow, Instrument

SESSION_SECONDS = 6.5 * 3600
DAY_SECONDS = 20 * 3600  # a median spacing this long means daily (or slower) bars
_PER_SECOND = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}  # a DatetimeIndex's units in a second


@dataclass(frozen=True)
class ReturnsHistory:
    """Aligned closes (rows: bar times, columns: symbols), with the index symbol when there is one.

    The derived arrays are computed once per history (the gateway reuses one history for many orders)."""

    closes: pd.DataFrame
    index_symbol: str | None

    @cached_property
    def _columns(self) -> dict[str, int]:
        return dict(zip(map(str, self.closes.columns.tolist()), range(self.closes.shape[1]), strict=True))

    @cached_property
    def _index(self) -> pd.DatetimeIndex:
        idx = self.closes.index
        return idx if isinstance(idx, pd.DatetimeIndex) else pd.DatetimeIndex(idx)

    @cached_property
    def _filled(self) -> np.ndarray:
        """Closes with a bar missing between a name's first and last close carrying its last close (the move over
        the gap lands on the bar after it); before its first and after its last close a name stays missing (NaN):
        a name with a short history has no returns there, not 0 returns (pandas only when a bar is missing)."""
        px = self.closes.to_numpy(dtype=float)
        return self.closes.ffill(limit_area="inside").to_numpy(dtype=float) if np.isnan(px).any() else px

    @cached_property
    def _returns(self) -> np.ndarray:
        """Simple returns per bar; NaN where a name has no return (see _filled; never a made-up 0).

        All finite from the raw closes means no close was missing (a NaN close makes a NaN return):
        then the fill is not needed; else the returns are taken again from the filled closes."""
        px = self.closes.to_numpy(dtype=float)
        if px.shape[0] < 2:
            return np.zeros((0, px.shape[1]))
        with np.errstate(invalid="ignore", divide="ignore"):
            r = px[1:] / px[:-1]
        r -= 1.0
        return r if np.isfinite(r).all() else _simple_returns(self._filled)

    @property
    def returns(self) -> pd.DataFrame:
        return pd.DataFrame(self._returns, index=self.closes.index[1:], columns=self.closes.columns)

    @cached_property
    def bars_per_day(self) -> float:
        idx = self._index
        if len(idx) < 2:
            return 1.0
        spacing = _median(np.diff(idx.asi8)) / _PER_SECOND[idx.unit]
        if not spacing or spacing >= DAY_SECONDS:
            return 1.0
        return max(1.0, SESSION_SECONDS / spacing)

    @cached_property
    def _daily(self) -> tuple[pd.DatetimeIndex, np.ndarray]:
        """(dates, close-to-close returns per calendar date, UTC) over all columns."""
        if self.closes.empty:
            return pd.DatetimeIndex([]), np.zeros((0, 0))
        idx = self._index
        day = idx.asi8 // (86_400 * _PER_SECOND[idx.unit])
        new_day = day[1:] != day[:-1]
        if new_day.all():  # daily bars already: the bar returns are the daily returns
            return idx[1:], self._returns
        last = np.flatnonzero(np.append(new_day, True))  # the last bar of each date
        px = self._filled[last]
        if px.shape[0] < 2:
            return pd.DatetimeIndex([]), np.zeros((0, px.shape[1]))
        return idx[last[1:]], _simple_returns(px)

    @property
    def daily_is_bars(self) -> bool:
        """Daily bars: the daily returns are the bar returns (a caller may reuse its bar matrix)."""
        return self._daily[1] is self._returns

    @property
    def daily_dates(self) -> pd.DatetimeIndex:
        return self._daily[0]

    def daily_returns(self) -> pd.DataFrame:
        """Close-to-close returns per calendar date (the historical scenarios' 'days')."""
        dates, r = self._daily
        return pd.DataFrame(r, index=list(dates.date), columns=self.closes.columns)

    def daily_matrix(self, symbols: Iterable[str]) -> tuple[pd.DatetimeIndex, np.ndarray]:
        dates, r = self._daily
        return dates, self._pick(r, symbols)

    def matrix(self, symbols: Iterable[str]) -> np.ndarray:
        """Returns (T x N) in the order of `symbols`; NaN where a name has no return (a name without bars: all NaN)."""
        return self._pick(self._returns, symbols)

    def _pick(self, r: np.ndarray, symbols: Iterable[str]) -> np.ndarray:
        """One fancy-indexing copy; a name without a column gets a NaN column (no returns, not zero returns)."""
        cols = self._columns
        at = np.fromiter((cols.get(name, -1) for name in symbols), dtype=np.intp)
        if r.shape[1] == 0 or (at < 0).all():
            return np.full((r.shape[0], at.size), np.nan)
        out = r[:, at]  # a copy; the misses took the last column for now
        if (at < 0).any():
            out[:, at < 0] = np.nan
        return out


def _median(x: np.ndarray) -> float:
    """np.median of a 1-d array by one partition (np.median's checks cost more than the work here)."""
    mid = x.size // 2
    if x.size % 2:
        return float(np.partition(x, mid)[mid])
    part = np.partition(x, (mid - 1, mid))
    return (float(part[mid - 1]) + float(part[mid])) / 2.0


def _simple_returns(px: np.ndarray) -> np.ndarray:
    """px[t] / px[t-1] - 1 per column; a non-finite result (a zero or missing close) is NaN: no return."""
    if px.shape[0] < 2:
        return np.zeros((0, px.shape[1]))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = px[1:] / px[:-1]
    r -= 1.0
    if not np.isfinite(r).all():
        r[~np.isfinite(r)] = np.nan
    return r


def from_closes(closes: pd.DataFrame, index_symbol: str | None = None) -> ReturnsHistory:
    """A history from a supplied frame of closes (e.g. a user's daily CSV): sorted, numeric."""
    frame = closes.copy(deep=False) if closes.index.is_monotonic_increasing else closes.sort_index()
    if not isinstance(frame.index, pd.DatetimeIndex):
        frame.index = pd.DatetimeIndex(frame.index)
    if frame.to_numpy().dtype != np.float64:  # already float: no copy (copy-on-write protects it)
        try:
            frame = frame.astype(float)
        except (TypeError, ValueError):
            frame = frame.apply(pd.to_numeric, errors="coerce")
    return ReturnsHistory(frame, index_symbol)


# Built once: the risk cycle reads the index symbol every cycle (building it cost more than running it).
_INDEX_SYMBOL = select(Instrument.symbol).where(Instrument.kind == "index").limit(1)


def load(session: Session, symbols: Iterable[str], lookback_bars: int, bars: BarHistory | None = None) -> ReturnsHistory:
    """The last `lookback_bars` + 1 bars of the names and of the index, aligned on bar time.

    `bars`: a backtest's bars in memory (the same rows as the store's), read instead of the store."""
    index_symbol = session.scalar(_INDEX_SYMBOL)
    wanted = sorted(set(symbols) | ({index_symbol} if index_symbol else set()))
    if not wanted:
        return ReturnsHistory(pd.DataFrame(), index_symbol)
    anchor = index_symbol or wanted[0]
    if bars is not None:
        wide = bars.closes(wanted, anchor, lookback_bars)
        if wide.empty:
            return ReturnsHistory(pd.DataFrame(columns=wanted), index_symbol)
        return ReturnsHistory(wide.tail(lookback_bars + 1).astype(float), index_symbol)
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
