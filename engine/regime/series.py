"""The bar buffer and vectorised helpers shared by modules (all strictly causal: row t uses bars <= t).

Why whole-buffer computation: the live path and the batch replay compute the same arrays over
the same buffer start, so every row is bit-identical between them (TA-Lib recursions included).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

NS_PER_MIN = 60_000_000_000
INTERVAL_PROBE = 20  # bars whose spacing fixes the bar interval; rows before it are warm-up
TRADING_DAYS_PER_YEAR = 252.0  # annualisation convention for equity markets
BROWNIAN_RANGE = math.sqrt(8.0 / math.pi)  # E[high-low] of a Brownian bar in units of its sigma
LONG_ROWS = 256  # rolling_rank_pct over this many rows or more runs compiled (batch/rank.py)


@dataclass(slots=True)
class PriceBuffer:
    """Parallel arrays of bars (timestamps as UTC nanoseconds)."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    @staticmethod
    def empty() -> PriceBuffer:
        z = np.empty(0)
        return PriceBuffer(np.empty(0, dtype=np.int64), z, z.copy(), z.copy(), z.copy(), z.copy())

    @staticmethod
    def from_frame(df: pd.DataFrame) -> PriceBuffer:
        ts = pd.DatetimeIndex(pd.to_datetime(df["timestamp"], utc=True))
        return PriceBuffer(
            ts.as_unit("ns").asi8.astype(np.int64),
            *(np.ascontiguousarray(df[c].to_numpy(dtype=np.float64)) for c in
              ("open", "high", "low", "close", "volume")),
        )

    def extend(self, other: PriceBuffer, max_len: int) -> tuple[PriceBuffer, int]:
        """Append bars newer than the last one; returns (buffer, number of bars dropped from the front)."""
        if len(self):
            keep = other.ts > self.ts[-1]
            other = PriceBuffer(*(a[keep] for a in other.arrays()))
        merged = PriceBuffer(*(np.concatenate([a, b]) for a, b in zip(self.arrays(), other.arrays(), strict=True)))
        drop = max(0, len(merged) - max_len)
        if drop:
            merged = PriceBuffer(*(a[drop:].copy() for a in merged.arrays()))
        return merged, drop

    def arrays(self) -> tuple[np.ndarray, ...]:
        return (self.ts, self.open, self.high, self.low, self.close, self.volume)


@dataclass(frozen=True, slots=True)
class TimeBase:
    """How bars map onto sessions and years (needed to put slopes and vols in workbook units)."""

    bar_minutes: float  # market minutes one bar represents (a daily bar = one session)
    bars_per_day: float
    bars_per_year: float
    intraday: bool

    @staticmethod
    def infer(ts: np.ndarray, session_minutes: float) -> TimeBase | None:
        """From the spacing of the first INTERVAL_PROBE bars; None until there are enough bars."""
        if len(ts) <= INTERVAL_PROBE:
            return None
        step = float(np.median(np.diff(ts[: INTERVAL_PROBE + 1]))) / NS_PER_MIN
        if step < 0.75 * 1440:
            bpd = max(1.0, session_minutes / step)
            return TimeBase(step, bpd, bpd * TRADING_DAYS_PER_YEAR, True)
        days = max(1.0, round(step / 1440.0 * 5.0 / 7.0)) if step > 2 * 1440 else 1.0
        return TimeBase(session_minutes * days, 1.0 / days, TRADING_DAYS_PER_YEAR / days, False)


def rolling_rank_pct(x: np.ndarray, lookback: int, rows: np.ndarray) -> np.ndarray:
    """Percentile rank (0-100) of x[t] among the finite values of x[t-lookback+1 .. t], for t in rows."""
    if len(rows) >= LONG_ROWS:  # replays and rebuilds: the compiled sliding window, same counts and floats
        from engine.regime.batch.rank import rank_pct  # local import: numba is heavy, the live path skips it
        return rank_pct(np.ascontiguousarray(x, dtype=np.float64), int(lookback),
                        np.ascontiguousarray(rows, dtype=np.int64))
    out = np.full(len(rows), np.nan)
    if len(rows) == 0:
        return out
    pad = np.concatenate([np.full(lookback - 1, np.nan), x])
    chunk = max(1, 2_000_000 // max(lookback, 1))
    for s in range(0, len(rows), chunk):
        r = rows[s:s + chunk]
        win = pad[r[:, None] + np.arange(lookback)[None, :]]
        cur = x[r][:, None]
        valid = np.isfinite(win)
        n = valid.sum(axis=1)
        le = ((win <= cur) & valid).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[s:s + chunk] = np.where(np.isfinite(x[r]) & (n > 1), 100.0 * le / np.maximum(n, 1), np.nan)
    return out


def local_clock(ts: np.ndarray, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """(local day number, local minute of day) for UTC-nanosecond timestamps in a market timezone.

    The conversion is per timestamp, so the bars a previous call (same timezone) already converted are
    taken from it: the classifier's buffer slides, and each update converts only its new bars (a batch
    replay converts its whole history once first: each buffer is then a slice of it). The arrays returned
    are read-only (the next call reuses them)."""
    if not (isinstance(ts, np.ndarray) and ts.dtype == np.int64):  # not a buffer's timestamps: no memo
        return _convert(ts, tz)
    got = _CLOCK_MEMO.get(tz)
    if got is not None and len(ts) and len(got[0]):
        old, d0, m0 = got
        k = int(np.searchsorted(old, ts[0]))
        m = min(len(old) - k, len(ts))
        if m > 0 and np.array_equal(old[k:k + m], ts[:m]):
            if m == len(ts):  # every bar converted before (a batch replay's whole history): the memo stays
                return d0[k:k + m], m0[k:k + m]
            d1, m1 = _convert(ts[m:], tz)
            return _remember(tz, ts, np.concatenate([d0[k:k + m], d1]), np.concatenate([m0[k:k + m], m1]))
    day, minute = _convert(ts, tz)
    return _remember(tz, ts, day, minute)


_CLOCK_MEMO: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # tz -> the last call's (ts, day, minute)


def _convert(ts: np.ndarray, tz: str) -> tuple[np.ndarray, np.ndarray]:
    local = pd.DatetimeIndex(ts, tz="UTC").tz_convert(tz).tz_localize(None).as_unit("ns").asi8
    day = local // (1440 * NS_PER_MIN)
    minute = (local - day * 1440 * NS_PER_MIN) // NS_PER_MIN
    return day.astype(np.int64), minute.astype(np.int64)


def _remember(tz: str, ts: np.ndarray, day: np.ndarray, minute: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ts = np.array(ts, dtype=np.int64)  # a copy: the caller's array may change
    for a in (ts, day, minute):
        a.flags.writeable = False
    _CLOCK_MEMO[tz] = (ts, day, minute)
    return day, minute


def session_starts(day: np.ndarray) -> np.ndarray:
    """Index of the first bar of each bar's session (sessions = contiguous local days)."""
    if len(day) == 0:
        return np.empty(0, dtype=np.int64)
    new = np.ones(len(day), dtype=bool)
    new[1:] = day[1:] != day[:-1]
    idx = np.where(new, np.arange(len(day)), 0)
    return np.maximum.accumulate(idx)


def prev_session_ohlc(day: np.ndarray, o: np.ndarray, h: np.ndarray, low: np.ndarray, c: np.ndarray,
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The previous completed session's open/high/low/close at every bar (NaN in the first session)."""
    so, sh, sl, sc, take = session_ohlc(day, o, h, low, c)
    return so[take], sh[take], sl[take], sc[take]


def session_ohlc(day: np.ndarray, o: np.ndarray, h: np.ndarray, low: np.ndarray, c: np.ndarray,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(open, high, low, close per session, behind one NaN row; index into them of each bar's previous
    session, 0 = none). Why: formulas on session values are then computed once per session, not per bar
    (element-wise, so taking their result at ``take`` gives the per-bar values bit for bit)."""
    n = len(day)
    if n == 0:
        z = np.full(1, np.nan)
        return z, z.copy(), z.copy(), z.copy(), np.zeros(0, dtype=np.int64)
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(day[1:], day[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], n]
    out = [np.empty(len(starts) + 1) for _ in range(4)]
    for arr in out:
        arr[0] = np.nan
    out[0][1:] = o[starts]
    np.maximum.reduceat(h, starts, out=out[1][1:])
    np.minimum.reduceat(low, starts, out=out[2][1:])
    out[3][1:] = c[ends - 1]
    take = np.cumsum(new) - 1  # session number of the bar = 1 + its previous session's number
    return out[0], out[1], out[2], out[3], take


def lag(x: np.ndarray, k: int) -> np.ndarray:
    """x shifted k bars later (x[t-k] at t), NaN-padded."""
    if k <= 0:
        return x.copy()
    out = np.full(len(x), np.nan)
    out[k:] = x[:-k]
    return out


def log_returns(close: np.ndarray) -> np.ndarray:
    r = np.full(len(close), np.nan)
    if len(close) > 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            r[1:] = np.diff(np.log(close))
    return r


def finite_or(x: float, default: float) -> float:
    return x if math.isfinite(x) else default
