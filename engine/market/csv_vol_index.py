"""The implied-volatility index file of the CSV source (VIX.csv, INDIAVIX.csv or a configured symbol):
``timestamp`` and ``close`` columns required (names matched case-insensitively; ``date``, ``datetime`` or
``time`` name the timestamp too), other columns ignored; values in index points (18.5 = 18.5 % annualised);
timestamps ISO-8601 (UTC without an offset), strictly increasing. Errors name the file, line and column."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from engine.market.types import Bar, MarketDataError

VOL_INDEX_FILES = ("VIX", "INDIAVIX")  # file stems read as the implied-volatility index when present
_TS_ALIASES = ("timestamp", "date", "datetime", "time")


def _fail(path: Path, line: int | None, column: str | None, what: str) -> MarketDataError:
    where = f"{path.name} line {line}" if line is not None else path.name
    if column:
        where += f", column '{column}'"
    return MarketDataError(f"CSV market data {where}: {what} (file {path}). Fix the file and restart the engine.")


def load_vol_index_csv(path: str | Path) -> pd.DataFrame:
    """An implied-volatility index file: timestamp (UTC) and close, checked like a bar file's columns."""
    path = Path(path)
    try:
        raw = pd.read_csv(path, dtype=str, encoding="utf-8-sig", skip_blank_lines=True)
    except FileNotFoundError:
        raise _fail(path, None, None, "the file does not exist") from None
    except (UnicodeDecodeError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise _fail(path, None, None, f"not a readable CSV file with a header row ({exc})") from None
    names = {str(c).strip().lower(): c for c in raw.columns}
    ts_col = next((names[c] for c in _TS_ALIASES if c in names), None)
    if ts_col is None or "close" not in names:
        raise _fail(path, 1, None, f"an implied-volatility index file needs columns timestamp and close "
                                   f"(found: {', '.join(map(str, raw.columns))})")
    if raw.empty:
        raise _fail(path, None, None, "the file has a header but no values")
    lines = np.arange(len(raw)) + 2
    ts = pd.to_datetime(raw[ts_col].str.strip(), utc=True, format="ISO8601", errors="coerce")
    val = pd.to_numeric(raw[names["close"]].str.strip(), errors="coerce").to_numpy(dtype=float)
    for col, bad, what in (("timestamp", ts.isna().to_numpy(), "is not an ISO-8601 date/time"),
                           ("close", ~(np.isfinite(val) & (val > 0)), "is not a positive number")):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            cell = raw[ts_col if col == "timestamp" else names["close"]].iloc[i]
            raise _fail(path, int(lines[i]), col, f"{cell!r} {what}")
    t = ts.dt.tz_convert(None).to_numpy()
    back = np.flatnonzero(t[1:] <= t[:-1])
    if back.size:
        i = int(back[0]) + 1
        raise _fail(path, int(lines[i]), "timestamp", "timestamps must be strictly increasing")
    return pd.DataFrame({"timestamp": ts, "close": val})


class VolIndexCursor:
    """Hands an index series (timestamp, close) out poll by poll: each poll gets the points after the previous
    poll's up to its newest bar's time. One rule for the live CSV source and a backtest's replay, so both give
    the regime the same points at the same bars."""

    def __init__(self, frame: pd.DataFrame | None, name: str | None) -> None:
        self.frame = frame.reset_index(drop=True) if frame is not None and len(frame) else None
        self.name = name
        self._t = (self.frame["timestamp"].dt.tz_convert(None).to_numpy().astype("datetime64[us]")
                   if self.frame is not None else np.empty(0, "datetime64[us]"))
        self._cursor = 0

    def points(self, upto: np.datetime64) -> list[Bar]:
        """The points after the previous call's up to `upto` (naive UTC), as flat bars of the index."""
        if self.frame is None:
            return []
        a, b = self._cursor, int(np.searchsorted(self._t, upto, side="right"))
        self._cursor = max(a, b)
        ts, val = self.frame["timestamp"].iloc[a:b].tolist(), self.frame["close"].iloc[a:b].tolist()
        return [Bar(str(self.name), t.to_pydatetime(), v, v, v, v, 0.0) for t, v in zip(ts, val, strict=True)]

    def resume_after(self, naive: np.datetime64 | None) -> None:
        """Hand out only points after `naive` (UTC) from now on; None: from the start."""
        self._cursor = 0 if naive is None else int(np.searchsorted(self._t, naive, side="right"))
