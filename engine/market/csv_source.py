"""Replay your own OHLCV files as the market.

File format (one file per symbol, e.g. ``data/csv/SPY.csv``; the file name without
``.csv`` is the symbol, upper-cased):

* UTF-8 text, comma-separated, **a header row is required**; column names are matched
  case-insensitively and surrounding spaces are ignored.
* Required columns: ``timestamp, open, high, low, close, volume`` in any order
  (``date``, ``datetime`` or ``time`` are accepted as the name of the timestamp column).
  Extra columns (e.g. ``symbol``, ``vwap``) are ignored.
* ``timestamp``: ISO-8601, e.g. ``2024-03-01``, ``2024-03-01 14:30``,
  ``2024-03-01T14:30:00Z`` or ``2024-03-01T09:30:00-05:00``. A timestamp without an offset
  is taken as UTC. It marks the start of the bar. Any bar interval works (1 minute, 5
  minutes, daily, ...); timestamps must be strictly increasing down the file.
* ``open, high, low, close``: positive decimal numbers with ``.`` as the decimal point and no
  thousands separator; ``low <= open, close <= high``.
* ``volume``: a number >= 0 (may be fractional).

Example::

    timestamp,open,high,low,close,volume
    2024-03-01T14:30:00Z,512.10,512.80,511.95,512.60,183400
    2024-03-01T14:31:00Z,512.60,512.75,512.20,512.30,90211

A malformed file raises MarketDataError naming the file, the line, the column and what is
wrong, e.g. ``SPY.csv line 14, column 'high': high 99.5 is below low 100.2``.

Implied-volatility index: a ``VIX.csv`` or ``INDIAVIX.csv`` in the folder (or the file of the symbol
given as ``vol_index_symbol``, setting REGIMEDESK_CSV_VOL_INDEX_SYMBOL) is not a tradable symbol: it is
read as the index series (``timestamp`` and ``close`` required, other columns optional; values in index
points, e.g. 18.5 for 18.5 % annualised) and each poll returns its points up to the poll's newest bar
in ``MarketUpdate.vol_index``; the regime engine's volatility module blends it into V.
"""
from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.market.csv_vol_index import VOL_INDEX_FILES, VolIndexCursor, load_vol_index_csv
from engine.market.types import Bar, MarketDataError, MarketUpdate

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
_TS_ALIASES = ("timestamp", "date", "datetime", "time")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _fail(path: Path, line: int | None, column: str | None, what: str) -> MarketDataError:
    where = f"{path.name} line {line}" if line is not None else path.name
    if column:
        where += f", column '{column}'"
    return MarketDataError(f"CSV market data {where}: {what} (file {path}). Fix the file and restart the engine.")


def _read_rows(path: Path) -> tuple[dict[str, int], list[list[str]], list[int]]:
    """Header positions, raw rows and their 1-based line numbers (blank lines skipped)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header: list[str] | None = None
            rows: list[list[str]] = []
            lines: list[int] = []
            header_line = 0
            for rec in reader:
                if not rec or all(not c.strip() for c in rec):
                    continue
                if header is None:
                    header, header_line = [c.strip().lower() for c in rec], reader.line_num
                    continue
                rows.append(rec)
                lines.append(reader.line_num)
    except FileNotFoundError:
        raise _fail(path, None, None, "the file does not exist") from None
    except UnicodeDecodeError as exc:
        raise _fail(path, None, None, f"not UTF-8 text ({exc.reason})") from None
    except csv.Error as exc:
        raise _fail(path, None, None, f"not valid CSV ({exc})") from None
    if header is None:
        raise _fail(path, None, None, "the file is empty; it needs a header row and at least one bar")
    pos: dict[str, int] = {}
    for name in _TS_ALIASES:
        if name in header:
            pos["timestamp"] = header.index(name)
            break
    for name in COLUMNS[1:]:
        if name in header:
            pos[name] = header.index(name)
    missing = [c for c in COLUMNS if c not in pos]
    if missing:
        raise _fail(path, header_line, None,
                    f"missing column(s) {', '.join(missing)}; the header must name {', '.join(COLUMNS)} "
                    f"(found: {', '.join(header)})")
    if not rows:
        raise _fail(path, None, None, "the file has a header but no bars")
    return pos, rows, lines


def _read_fast(path: Path) -> tuple[dict[str, pd.Series], np.ndarray] | None:
    """Columns and line numbers via pandas' C parser (numbers parsed there), or None when the
    file needs the careful reader to explain what is wrong (blank first line, bad number...)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            first = fh.readline()
        header = next(csv.reader([first]), [])
        names = {h.strip().lower(): h for h in header}
        if not first.strip() or len(names) != len(header):
            return None
        ts_col = next((names[c] for c in _TS_ALIASES if c in names), None)
        if ts_col is None or any(c not in names for c in COLUMNS[1:]):
            return None
        cols = [ts_col] + [names[c] for c in COLUMNS[1:]]
        df = pd.read_csv(path, usecols=cols, dtype={c: (str if c == ts_col else float) for c in cols},
                         skip_blank_lines=False, encoding="utf-8-sig", index_col=False)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    df = df[cols]
    df.columns = list(COLUMNS)
    blank = df.isna().all(axis=1).to_numpy()
    line_no = np.flatnonzero(~blank) + 2  # the header is line 1
    if line_no.size == 0:
        return None
    df = df[~blank]
    return {c: df[c].reset_index(drop=True) for c in COLUMNS}, line_no


def _read_careful(path: Path) -> tuple[dict[str, pd.Series], np.ndarray]:
    """Raw columns and line numbers with Python's csv module: slower, exact about structure."""
    pos, rows, lines = _read_rows(path)
    width = max(pos.values()) + 1
    for rec, line in zip(rows, lines, strict=True):
        if len(rec) < width:
            raise _fail(path, line, None, f"only {len(rec)} fields, expected at least {width} as in the header")
    raw = {c: pd.Series([rec[pos[c]].strip() for rec in rows], dtype=object) for c in COLUMNS}
    return raw, np.asarray(lines)


def load_ohlcv_csv(path: str | Path, symbol: str | None = None) -> pd.DataFrame:
    """Load and validate one OHLCV file (format in the module docstring).

    Returns columns timestamp (UTC), open, high, low, close, volume; ``df.attrs['symbol']``
    is the symbol (given, or the file name). Valid files go through pandas' C parser; any
    problem is re-diagnosed by the careful reader so the message names the exact line.
    """
    path = Path(path)
    df = None
    fast = _read_fast(path)
    if fast is not None:
        try:
            df = _validate(path, *fast)
        except MarketDataError:
            df = None
    if df is None:
        df = _validate(path, *_read_careful(path))
    df.attrs["symbol"] = symbol or path.stem.upper()
    return df


def _validate(path: Path, raw: dict[str, pd.Series], line_no: np.ndarray) -> pd.DataFrame:
    """Parse and check the raw string columns; raise MarketDataError at the first bad line."""
    ts = pd.to_datetime(raw["timestamp"], utc=True, format="ISO8601", errors="coerce")
    bad = np.flatnonzero(ts.isna().to_numpy())
    if bad.size:
        i = int(bad[0])
        raise _fail(path, int(line_no[i]), "timestamp",
                    f"cannot read {raw['timestamp'][i]!r} as a date/time; use ISO-8601 like 2024-03-01T14:30:00Z")
    low, high = pd.Timestamp.min.tz_localize(UTC), pd.Timestamp.max.tz_localize(UTC)
    outside = np.flatnonzero(((ts < low) | (ts > high)).to_numpy())
    if outside.size:  # parsed at a coarser unit, but every later step counts nanoseconds (a typo year such as 9999)
        i = int(outside[0])
        bound = f"latest supported {high:%Y-%m-%d}" if ts[i] > high else f"earliest supported {low:%Y-%m-%d}"
        raise _fail(path, int(line_no[i]), "timestamp", f"{raw['timestamp'][i]!r} is out of range: {ts[i]:%Y-%m-%d}, {bound}")
    out: dict[str, Any] = {"timestamp": ts}
    for c in COLUMNS[1:]:
        vals = pd.to_numeric(raw[c], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(vals))
        if bad.size:
            i = int(bad[0])
            raise _fail(path, int(line_no[i]), c, f"{raw[c][i]!r} is not a number")
        out[c] = vals
    o, h, lo, cl, v = (out[c] for c in COLUMNS[1:])
    checks = [
        ("open", (o <= 0) | (h <= 0) | (lo <= 0) | (cl <= 0), lambda i: "prices must be positive"),
        ("high", h < lo, lambda i: f"high {h[i]:g} is below low {lo[i]:g}"),
        ("open", (o < lo) | (o > h), lambda i: f"open {o[i]:g} is outside the bar's range [{lo[i]:g}, {h[i]:g}]"),
        ("close", (cl < lo) | (cl > h), lambda i: f"close {cl[i]:g} is outside the bar's range [{lo[i]:g}, {h[i]:g}]"),
        ("volume", v < 0, lambda i: f"volume {v[i]:g} is negative"),
    ]
    first_bad = [(int(np.flatnonzero(m)[0]), col, msg) for col, m, msg in checks if m.any()]
    if first_bad:
        i, col, msg = min(first_bad, key=lambda x: x[0])
        raise _fail(path, int(line_no[i]), col, msg(i))
    t = ts.dt.tz_convert(None).to_numpy()  # naive UTC datetime64: fast comparisons
    back = np.flatnonzero(t[1:] <= t[:-1])
    if back.size:
        i = int(back[0]) + 1
        kind = "repeats" if t[i] == t[i - 1] else "goes back before"
        raise _fail(path, int(line_no[i]), "timestamp",
                    f"{raw['timestamp'][i]!r} {kind} the previous bar (line {line_no[i - 1]}); "
                    "bars must be in strictly increasing time order")
    return pd.DataFrame(out)


def vol_index_key(files: dict[str, Path], wanted: str | None) -> str | None:
    """Which of a folder's files ({SYMBOL: path}) is the implied-volatility index: `wanted` (an error when it
    has no file), else the first of VOL_INDEX_FILES present, else None. The backtest picks it the same way."""
    if wanted:
        if wanted.upper() not in files:
            raise MarketDataError(f"CSV market data: implied-volatility index {wanted!r} has no file; have "
                                  f"{', '.join(files)}")
        return wanted.upper()
    return next((k for k in VOL_INDEX_FILES if k in files), None)


class CsvReplaySource:
    """MarketSource replaying CSV files: each poll advances ``bars_per_poll`` distinct timestamps
    across all symbols, oldest first, and returns every bar stamped with them."""

    name = "csv"

    def __init__(self, files: dict[str, Path] | str | Path, bars_per_poll: int = 1,
                 index_symbol: str | None = None, vol_index_symbol: str | None = None) -> None:
        if bars_per_poll < 1:
            raise MarketDataError(f"CSV market data: bars_per_poll must be at least 1, got {bars_per_poll}")
        if not isinstance(files, dict):
            folder = Path(files)
            if not folder.is_dir():
                raise MarketDataError(f"CSV market data: {folder} is not a folder of SYMBOL.csv files")
            files = {p.stem.upper(): p for p in sorted(folder.glob("*.csv"))}
            if not files:
                raise MarketDataError(f"CSV market data: no .csv files in {folder}; add one file per symbol")
        files = dict(files)
        self._vol_name = self._vol_index_key(files, vol_index_symbol)
        self._vol = load_vol_index_csv(files.pop(self._vol_name)) if self._vol_name else None
        if not files:
            raise MarketDataError("CSV market data: only an implied-volatility index file; add one file per symbol")
        self._frames = {sym: load_ohlcv_csv(Path(p), sym) for sym, p in sorted(files.items())}
        if index_symbol is not None and index_symbol not in self._frames:
            raise MarketDataError(f"CSV market data: index symbol {index_symbol!r} has no file; have "
                                  f"{', '.join(self._frames)}")
        self._index = index_symbol or next(iter(self._frames))
        self.bars_per_poll = bars_per_poll
        long = pd.concat([f.assign(symbol=s) for s, f in self._frames.items()], ignore_index=True)
        long = long.sort_values(["timestamp", "symbol"], kind="stable", ignore_index=True)
        tvals = long["timestamp"].dt.tz_localize(None).to_numpy()  # naive UTC datetime64
        self._times = np.unique(tvals)  # sorted distinct timestamps
        # Bars are made per poll from these columns: a year of minutes would be millions of objects.
        self._sym = long["symbol"].to_numpy(dtype=object)
        self._us = tvals.astype("datetime64[us]").astype(np.int64)
        self._ohlcv = [long[c].to_numpy(dtype=float) for c in COLUMNS[1:]]
        # Row range of each distinct timestamp in the sorted long table.
        self._starts = np.searchsorted(tvals, self._times, side="left")
        self._ends = np.searchsorted(tvals, self._times, side="right")
        self._cursor = 0
        self._vol_points = VolIndexCursor(self._vol, self._vol_name)

    @staticmethod
    def _vol_index_key(files: dict[str, Path], wanted: str | None) -> str | None:
        return vol_index_key(files, wanted)

    def vol_index_symbol(self) -> str | None:
        """The implied-volatility index read from the folder (None: there is none)."""
        return self._vol_name

    def vol_index_frame(self) -> pd.DataFrame | None:
        """The whole index series (timestamp, close), e.g. for a replay."""
        return None if self._vol is None else self._vol.copy()

    def symbols(self) -> list[str]:
        return list(self._frames)

    def index_symbol(self) -> str:
        return self._index

    @property
    def exhausted(self) -> bool:
        return self._cursor >= len(self._times)

    def frame(self, symbol: str) -> pd.DataFrame:
        """The validated bars of one symbol (a copy)."""
        return self._frames[symbol].copy()

    def poll(self) -> MarketUpdate:
        first = self._cursor
        last = min(first + self.bars_per_poll, len(self._times))
        self._cursor = last
        if first >= last:
            return MarketUpdate()
        a, b = int(self._starts[first]), int(self._ends[last - 1])
        cols = [c[a:b].tolist() for c in self._ohlcv]
        bars = [
            Bar(sym, _EPOCH + timedelta(microseconds=us), *vals)
            for sym, us, *vals in zip(self._sym[a:b].tolist(), self._us[a:b].tolist(), *cols, strict=True)
        ]
        have = {bar.symbol for bar in bars}
        return MarketUpdate(bars=bars, stale_symbols=[s for s in self._frames if s not in have],
                            vol_index=self._vol_points.points(self._times[last - 1]))

    def resume_after(self, last_ts: datetime | None) -> None:
        if last_ts is None:
            self._cursor = 0
            self._vol_points.resume_after(None)
            return
        if last_ts.tzinfo is None:
            last_ts = last_ts.replace(tzinfo=UTC)
        naive = np.datetime64(last_ts.astimezone(UTC).replace(tzinfo=None), "us")
        self._cursor = int(np.searchsorted(self._times, naive, side="right"))
        self._vol_points.resume_after(naive)
