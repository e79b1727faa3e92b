"""Round trips (per-trade P&L) from fills, matched first-in first-out per symbol.

A round trip is one matched pair of an opening lot and the fill that closes (part of) it: a sell
closing a long lot, or a buy covering a short lot. One exit fill that closes two earlier lots gives
two round trips, each with its own entry price and time; a fill that reverses a position closes the
open lots and opens a new lot with the rest. Commission is shared pro rata by quantity: a round trip
carries its share of the entry fill's and of the exit fill's commission, and `pnl` is net of it.
Lots still open at the end are returned by `open_lots` (they have unrealised, not realised, P&L).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import pandas as pd

FILL_COLUMNS = ("ts", "symbol", "side", "qty", "price", "commission")
ROUND_TRIP_COLUMNS = ("symbol", "direction", "qty", "entry_ts", "entry_price", "exit_ts", "exit_price",
                      "gross_pnl", "commission", "pnl", "return")
_EPS = 1e-12


class MetricsError(ValueError):
    """Input the metrics cannot use (missing column, bad side, unsorted equity); the message says which."""


@dataclass
class _Lot:
    qty: float  # signed: > 0 long, < 0 short
    price: float
    ts: pd.Timestamp
    commission_per_unit: float


def normalise_fills(fills: pd.DataFrame | None) -> pd.DataFrame:
    """The fills as floats with a lower-case side, sorted by time (stable, so same-time fills keep their order)."""
    if fills is not None:
        missing = [c for c in FILL_COLUMNS if c not in fills.columns]
        if missing:
            raise MetricsError(f"fills: missing column(s) {', '.join(missing)} (need {', '.join(FILL_COLUMNS)})")
    if fills is None or len(fills) == 0:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in FILL_COLUMNS}).astype(
            {"ts": "datetime64[ns, UTC]", "symbol": "object", "side": "object"})
    out = fills.loc[:, list(FILL_COLUMNS)].copy()
    out["side"] = out["side"].astype(str).str.lower()
    bad = out.index[~out["side"].isin(("buy", "sell"))]
    if len(bad):
        raise MetricsError(f"fills: row {bad[0]} has side {fills.loc[bad[0], 'side']!r}; expected buy or sell")
    for col in ("qty", "price", "commission"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
        if out[col].isna().any():
            raise MetricsError(f"fills: column {col} has a missing or non-numeric value in row "
                               f"{out.index[out[col].isna()][0]}")
    if (out["qty"] <= 0).any():
        raise MetricsError(f"fills: qty must be positive (row {out.index[out['qty'] <= 0][0]})")
    out["ts"] = pd.to_datetime(out["ts"], utc=True)
    return out.sort_values("ts", kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class _Fill:
    ts: pd.Timestamp
    symbol: str
    side: str
    qty: float
    price: float
    commission: float


def _rows(fills: pd.DataFrame) -> list[_Fill]:
    """Typed rows of normalised fills, in time order."""
    return [_Fill(pd.Timestamp(t), str(s), str(d), float(q), float(p), float(c)) for t, s, d, q, p, c in zip(
        fills["ts"], fills["symbol"], fills["side"], fills["qty"].to_numpy(), fills["price"].to_numpy(),
        fills["commission"].to_numpy(), strict=True)]


def _match(fills: pd.DataFrame) -> tuple[list[dict[str, object]], dict[str, deque[_Lot]]]:
    trips: list[dict[str, object]] = []
    books: dict[str, deque[_Lot]] = {}
    for f in _rows(fills):
        lots = books.setdefault(f.symbol, deque())
        signed = f.qty if f.side == "buy" else -f.qty
        cpu = f.commission / f.qty
        while abs(signed) > _EPS and lots and (lots[0].qty > 0) != (signed > 0):
            lot = lots[0]
            qty = min(abs(lot.qty), abs(signed))
            direction = 1.0 if lot.qty > 0 else -1.0
            gross = (f.price - lot.price) * qty * direction
            commission = qty * (lot.commission_per_unit + cpu)
            trips.append({
                "symbol": f.symbol, "direction": "long" if direction > 0 else "short", "qty": qty,
                "entry_ts": lot.ts, "entry_price": lot.price, "exit_ts": f.ts, "exit_price": f.price,
                "gross_pnl": gross, "commission": commission, "pnl": gross - commission,
                "return": (gross - commission) / (lot.price * qty) if lot.price else float("nan"),
            })
            lot.qty -= qty * direction
            signed += qty * direction
            if abs(lot.qty) <= _EPS:
                lots.popleft()
        if abs(signed) > _EPS:
            lots.append(_Lot(qty=signed, price=f.price, ts=f.ts, commission_per_unit=cpu))
    return trips, books


def round_trips(fills: pd.DataFrame | None) -> pd.DataFrame:
    """Closed round trips, one row each, in the order they closed (columns ROUND_TRIP_COLUMNS)."""
    trips, _ = _match(normalise_fills(fills))
    frame = pd.DataFrame(trips, columns=list(ROUND_TRIP_COLUMNS))
    for col in ("qty", "entry_price", "exit_price", "gross_pnl", "commission", "pnl", "return"):
        frame[col] = frame[col].astype("float64")
    return frame


def open_lots(fills: pd.DataFrame | None) -> pd.DataFrame:
    """Lots still open after all fills: symbol, signed qty, entry price, entry time."""
    _, books = _match(normalise_fills(fills))
    rows = [{"symbol": s, "qty": lot.qty, "entry_price": lot.price, "entry_ts": lot.ts}
            for s, lots in books.items() for lot in lots]
    return pd.DataFrame(rows, columns=["symbol", "qty", "entry_price", "entry_ts"])


def position_path(fills: pd.DataFrame | None) -> pd.DataFrame:
    """After each fill: the time, the symbol and the number of symbols with an open position (for time invested)."""
    frame = normalise_fills(fills)
    held: dict[str, float] = {}
    counts: list[int] = []
    for f in _rows(frame):
        held[f.symbol] = held.get(f.symbol, 0.0) + (f.qty if f.side == "buy" else -f.qty)
        counts.append(sum(1 for q in held.values() if abs(q) > _EPS))
    return pd.DataFrame({"ts": frame["ts"], "open_symbols": pd.Series(counts, dtype="int64")})
