"""The default market: a seeded, regime-switching simulation of an index, 8 stocks and options.

Each poll advances ``minutes_per_poll`` simulated minutes and returns their 1-minute bars for
all 9 symbols, the hidden true regime of each minute, and (every ``chain_every`` polls) an
option chain per option underlying priced at the close of the poll's last bar (the chain's
ts is that bar's ts). Everything is a pure function of the seed: two markets with the same
seed produce identical bars, and ``resume_after(ts)`` continues exactly as an uninterrupted
run would, chains included.

Conventions: a bar's ts is its open (aware UTC), bars run every calendar minute (no sessions);
realised vol is annualised over 252 x 390 minutes; option expiries are weekly (Fridays 20:00
UTC) and a chain's expiry_days are calendar days; chain ``volume`` is the contract's volume so
far in the UTC day; open interest and volume move every 15 simulated minutes (oi_book.OI_STEP),
prices, IV and Greeks every minute. Every bar also publishes the implied-volatility index VOL_INDEX
(MarketUpdate.vol_index): 100 x the index's ATM IV at VOL_INDEX_DAYS calendar days on the chain's own term
structure (option_chain.atm_vol), i.e. the 30-day constant-maturity ATM IV of its option chain.
"""
from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from engine.market.oi_book import OI_STEP, OpenInterestBook
from engine.market.option_chain import (
    MINUTES_PER_CAL_YEAR,
    ChainSpec,
    ExpiryCalendar,
    atm_vol,
    build_chain,
    nice_step,
)
from engine.market.price_path import (
    CHUNK,
    INDEX,
    MINUTES_PER_YEAR,
    START_PRICE,
    SYMBOLS,
    Chunk,
    PricePath,
    nominal_vol,
)
from engine.market.regime_process import TRENDS, VOLS
from engine.market.sim_epoch import DEFAULT_START
from engine.market.types import Bar, MarketDataError, MarketUpdate, OptionChain, TrueRegime

_OI_SCALE = {INDEX: 8000.0}
_LONG_RUN = nominal_vol(np.array([1]))[0]  # medium-regime annual vol of each symbol
VOL_INDEX = "VIX"  # the implied-volatility index of INDEX
VOL_INDEX_DAYS = 30.0  # its constant maturity, as the CBOE VIX
_IDX = SYMBOLS.index(INDEX)


class SimulatedMarket:
    """MarketSource over the simulation; see the module docstring for what a poll returns."""

    name = "simulated"

    def __init__(
        self,
        seed: int = 7,
        start: datetime = DEFAULT_START,
        minutes_per_poll: int = 1,
        chain_every: int = 1,
        option_underlyings: tuple[str, ...] = (INDEX, "ALFA"),
        expiry_days: tuple[int, ...] = (7, 14, 30),
    ) -> None:
        if start.tzinfo is None or start.utcoffset() != timedelta(0):
            raise MarketDataError(f"simulated market: start {start!r} must be an aware UTC datetime")
        if minutes_per_poll < 1 or chain_every < 1:
            raise MarketDataError(
                f"simulated market: minutes_per_poll ({minutes_per_poll}) and chain_every "
                f"({chain_every}) must be at least 1"
            )
        unknown = [u for u in option_underlyings if u not in SYMBOLS]
        if unknown:
            raise MarketDataError(f"simulated market: no such option underlying {unknown}; choose from {SYMBOLS}")
        self.seed = seed
        self.start = start.replace(second=0, microsecond=0)
        self.minutes_per_poll = minutes_per_poll
        self.chain_every = chain_every
        self._underlyings = tuple(option_underlyings)
        self._uidx = np.array([SYMBOLS.index(u) for u in self._underlyings], dtype=np.int64)
        self._cal = ExpiryCalendar(self.start, expiry_days)
        self._specs = [
            ChainSpec(u, nice_step(float(START_PRICE[i])), _OI_SCALE.get(u, 2000.0))
            for u, i in zip(self._underlyings, self._uidx, strict=True)
        ]
        self._cursor = 0  # the next minute poll() returns (set again by _reset)
        self._reset(0, book_from=OI_STEP - 1)

    # -- MarketSource -------------------------------------------------------------------
    def symbols(self) -> list[str]:
        return list(SYMBOLS)

    def index_symbol(self) -> str:
        return INDEX

    def option_underlyings(self) -> list[str]:
        return list(self._underlyings)

    def vol_index_symbol(self) -> str:
        return VOL_INDEX

    @staticmethod
    def vol_index_value(level: float) -> float:
        """100 x the ATM IV at VOL_INDEX_DAYS of a chain whose index vol level is ``level``."""
        t = np.array([VOL_INDEX_DAYS * 1440.0 / MINUTES_PER_CAL_YEAR])
        return float(100.0 * atm_vol(t, level, float(_LONG_RUN[_IDX]))[0])

    def poll(self) -> MarketUpdate:
        first, last = self._cursor, self._cursor + self.minutes_per_poll - 1
        self._ensure_chunk(last)
        update = MarketUpdate()
        for i in range(first, last + 1):
            ch, r = self._row(i)
            ts = self.ts_of(i)
            o, h, lo, c, v = (a[r].tolist() for a in (ch.open, ch.high, ch.low, ch.close, ch.volume))
            update.bars.extend(
                Bar(s, ts, o[n], h[n], lo[n], c[n], v[n]) for n, s in enumerate(SYMBOLS)
            )
            update.true_regimes.append(TrueRegime(ts, TRENDS[ch.trend[r]], VOLS[ch.vol[r]]))
            v = self.vol_index_value(float(ch.vol_level[r, _IDX]))
            update.vol_index.append(Bar(VOL_INDEX, ts, v, v, v, v, 0.0))
        self._advance_books(last)
        period = self.chain_every * self.minutes_per_poll
        if (last + 1) // period > first // period:
            update.chains.extend(self._chains_at(last))
        self._cursor = last + 1
        return update

    def resume_after(self, last_ts: datetime | None) -> None:
        if last_ts is None:
            self._reset(0, book_from=OI_STEP - 1)
            return
        last = self.minute_of(last_ts)
        target = last + 1
        # Replay the OI book from the listing of the oldest expiry still alive at `last`.
        listing = self._cal.listing(self._cal.front(last))
        book_from = max(OI_STEP - 1, listing + (-(listing + 1)) % OI_STEP)
        self._reset(target, book_from)
        self._book.min_expiry = self._cal.front(last)
        # Chunks wholly before the OI replay (and its lookback) and before the previous-to-last
        # chunk only carry the price path forward: skip their bars.
        first_full = min((book_from - OI_STEP) // CHUNK, target // CHUNK - 1)
        prev = None
        for _ in range(max(first_full, 0)):
            prev = self._path.next_chunk(prev, bars=False)
        if prev is not None:
            self._chunks[prev.number] = prev
        for k in range(max(first_full, 0), target // CHUNK + 1):
            self._ensure_chunk(k * CHUNK)
            self._advance_books(min(k * CHUNK + CHUNK - 1, last))

    # -- helpers others may call --------------------------------------------------------
    @property
    def next_ts(self) -> datetime:
        """Timestamp of the bar the next poll starts with."""
        return self.ts_of(self._cursor)

    def ts_of(self, minute: int) -> datetime:
        return self.start + timedelta(minutes=minute)

    def minute_of(self, ts: datetime) -> int:
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        seconds = (ts - self.start).total_seconds()
        if seconds < 0 or seconds % 60:
            raise MarketDataError(
                f"simulated market: cannot resume after {ts.isoformat()}: it is not a bar of this "
                f"simulation (bars start {self.start.isoformat()}, one a minute). Check the store's "
                "last bar or the simulation start setting."
            )
        return int(seconds // 60)

    def history(self, n_minutes: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The first n_minutes of this seed's path in one go (does not move the poll cursor).

        Returns (bars, regimes): bars in long format with columns ts, symbol, open, high, low,
        close, volume (sorted by ts then symbol); regimes with ts, trend, volatility per minute.
        """
        path = PricePath(self.seed)
        chunks: list[Chunk] = []
        prev = None
        while len(chunks) * CHUNK < n_minutes:
            prev = path.next_chunk(prev)
            chunks.append(prev)
        cols = {f: np.vstack([getattr(c, f) for c in chunks])[:n_minutes] for f in
                ("open", "high", "low", "close", "volume")}
        ts = pd.date_range(self.start, periods=n_minutes, freq="min")
        n_sym = len(SYMBOLS)
        bars = pd.DataFrame({
            "ts": np.repeat(ts, n_sym),
            "symbol": np.tile(np.array(SYMBOLS, dtype=object), n_minutes),
            **{f: a.ravel() for f, a in cols.items()},
        })
        trend = np.concatenate([c.trend for c in chunks])[:n_minutes]
        vol = np.concatenate([c.vol for c in chunks])[:n_minutes]
        regimes = pd.DataFrame({
            "ts": ts,
            "trend": np.array(TRENDS, dtype=object)[trend],
            "volatility": np.array(VOLS, dtype=object)[vol],
        })
        return bars, regimes

    def vol_index_history(self, n_minutes: int) -> pd.DataFrame:
        """The first n_minutes of this seed's implied-volatility index (ts, close), as poll() publishes it."""
        path = PricePath(self.seed)
        levels: list[np.ndarray] = []
        prev = None
        while len(levels) * CHUNK < n_minutes:
            prev = path.next_chunk(prev)
            levels.append(prev.vol_level[:, _IDX])
        lv = np.concatenate(levels)[:n_minutes]
        return pd.DataFrame({"ts": pd.date_range(self.start, periods=n_minutes, freq="min"),
                             "close": [self.vol_index_value(float(x)) for x in lv]})

    # -- internals ----------------------------------------------------------------------
    def _reset(self, cursor: int, book_from: int) -> None:
        self._path = PricePath(self.seed)
        self._chunks: dict[int, Chunk] = {}
        self._cursor = cursor
        self._book = OpenInterestBook(self._specs, self._cal, self.start)
        self._book.last_step = book_from - OI_STEP

    def _ensure_chunk(self, minute: int) -> None:
        want = minute // CHUNK
        while not self._chunks or max(self._chunks) < want:
            prev = self._chunks[max(self._chunks)] if self._chunks else None
            ch = self._path.next_chunk(prev)
            self._chunks[ch.number] = ch
            for k in [k for k in self._chunks if k < ch.number - 1]:
                del self._chunks[k]

    def _row(self, minute: int) -> tuple[Chunk, int]:
        ch = self._chunks.get(minute // CHUNK)
        if ch is None or ch.lite:
            raise MarketDataError(f"simulated market: minute {minute} is no longer in memory (internal error)")
        return ch, minute - ch.first

    def _advance_books(self, upto: int) -> None:
        """Run every OI step that ends at or before bar ``upto``."""
        book, u = self._book, self._uidx
        if u.size == 0:
            return
        scale = math.sqrt(OI_STEP / MINUTES_PER_YEAR)
        long_run = _LONG_RUN[u]
        s = book.last_step + OI_STEP
        while s <= upto:
            ch, r = self._row(s)
            if s >= OI_STEP:
                pc, pr = self._row(s - OI_STEP)
                ret_z = (ch.log_close[r, u] - pc.log_close[pr, u]) / (ch.ann_vol[r, u] * scale)
            else:
                ret_z = np.zeros(u.size)
            book.step(s, ch.close[r, u], ret_z, ch.mom[r, u], ch.vol_level[r, u], long_run)
            s += OI_STEP

    def _chains_at(self, minute: int) -> list[OptionChain]:
        ch, r = self._row(minute)
        ts = self.ts_of(minute)
        return [
            build_chain(spec, self._cal, self._book, n, minute, ts, float(ch.close[r, u]),
                        float(ch.vol_level[r, u]), float(_LONG_RUN[u]), float(ch.mom[r, u]))
            for n, (spec, u) in enumerate(zip(self._specs, self._uidx, strict=True))
        ]
