"""One symbol on the Performance page: its price with its fills marked (entry or exit, size) and its P&L.

Realised P&L is the net P&L of the round trips that closed in range (first-in first-out, as the
metrics); unrealised P&L is that of the lots still open at the range's end, marked at the last close
in range. Both come from the fills, so they hold for a past range as well as for today.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from components.formatting import money
from engine.analytics import open_lots, round_trips
from engine.store import performance_queries as pq
from engine.store import queries
from webapp.cache import cache
from webapp.context import get_context
from webapp.performance_data import CHART_POINTS, VIEW_TTL_SECONDS, day_bounds, market_calendar, parse_day
from webapp.performance_display import MARKET_AXIS, figure_layout, time_labels

MAX_MARKERS = 2_000


@dataclass
class SymbolView:
    symbol: str
    closes: pd.DataFrame  # ts, close
    fills: pd.DataFrame  # ts, side, qty, price, commission, role (in range)
    realised: float
    unrealised: float | None
    position: float
    trips: int


def fill_roles(fills: pd.DataFrame) -> list[str]:
    """Per fill (time order): 'entry' when it opens or adds, 'exit' when it reduces, 'exit+entry' when it reverses."""
    held, roles = 0.0, []
    for side, qty in zip(fills["side"].str.lower(), fills["qty"].astype(float), strict=True):
        signed = qty if side == "buy" else -qty
        if held == 0 or (held > 0) == (signed > 0):
            roles.append("entry")
        elif abs(signed) <= abs(held) + 1e-12:
            roles.append("exit")
        else:
            roles.append("exit+entry")
        held += signed
    return roles


def build_symbol_view(session: Session, symbol: str, start: datetime | None, end: datetime | None) -> SymbolView:
    closes = pq.symbol_closes(session, symbol, start, end, CHART_POINTS)
    fills = pq.fills_frame(session, None, end, symbol)
    fills["role"] = fill_roles(fills) if len(fills) else []
    trips = round_trips(fills)
    if start is not None:
        trips = trips[trips["exit_ts"] >= pd.Timestamp(start)]
    lots = open_lots(fills)
    position = float(lots["qty"].sum()) if len(lots) else 0.0
    unrealised: float | None = 0.0
    if len(lots):
        last = float(closes["close"].iloc[-1]) if len(closes) else None
        unrealised = None if last is None else float((lots["qty"] * (last - lots["entry_price"])).sum())
    shown = fills[fills["ts"] >= pd.Timestamp(start)] if start is not None else fills
    return SymbolView(symbol=symbol, closes=closes, fills=shown.tail(MAX_MARKERS).reset_index(drop=True),
                      realised=float(trips["pnl"].sum()), unrealised=unrealised, position=position,
                      trips=len(trips))


def symbol_figure(view: SymbolView) -> dict[str, object]:
    """Close price line; buys as green triangles up, sells as red triangles down, sized by quantity, exits outlined."""
    traces: list[dict[str, object]] = [{"type": "scatter", "x": time_labels(view.closes["ts"]),
                                        "y": view.closes["close"].tolist(), "mode": "lines", "name": view.symbol,
                                        "line": {"color": "#455a64"}}]
    f = view.fills
    if len(f):
        size = 8 + 14 * np.sqrt(f["qty"].astype(float) / float(f["qty"].max()))
        for side, shape, colour in (("buy", "triangle-up", "#2e7d32"), ("sell", "triangle-down", "#c62828")):
            mask = (f["side"].str.lower() == side).to_numpy()
            if not mask.any():
                continue
            part = f[mask]
            traces.append({
                "type": "scatter", "x": time_labels(part["ts"]), "y": part["price"].tolist(), "mode": "markers",
                "name": f"{side} fills", "hovertemplate": "%{text}<br>%{x}<extra></extra>",
                "text": [f"{r} {side} {q:g} @ {p:,.2f}" for r, q, p in zip(part["role"], part["qty"], part["price"],
                                                                            strict=True)],
                "marker": {"symbol": shape, "color": colour, "size": size[mask].round(1).tolist(),
                           "line": {"width": [2 if r != "entry" else 0 for r in part["role"]], "color": "#000"}}})
    return {"data": traces, "layout": figure_layout(f"{view.symbol}: price and fills (outlined: exits)", MARKET_AXIS)}


@cache.memoize(timeout=VIEW_TTL_SECONDS)
def symbol_view(symbol: str, start_day: str | None, end_day: str | None) -> SymbolView:
    ctx = get_context()
    with ctx.store.read() as session:  # the picked days are the market's days, as on the rest of the page
        calendar = market_calendar(session, ctx.settings)
    start, end = day_bounds(parse_day(start_day), parse_day(end_day), calendar)
    with ctx.store.read() as session:
        return build_symbol_view(session, symbol, start, end)


@cache.memoize(timeout=VIEW_TTL_SECONDS)
def symbol_outputs(symbol: str, start_day: str | None, end_day: str | None) -> tuple[dict[str, object], str]:
    """The symbol chart and its P&L line, built once per cache period."""
    view = symbol_view(symbol, start_day, end_day)
    return symbol_figure(view), pnl_line(view)


def pnl_line(view: SymbolView) -> str:
    """'position 3 · realised P&L -$5.77 over 2 round trips · unrealised P&L $1,234.00 (...)'."""
    return (f"position {view.position:g} · realised P&L {money(view.realised)} over {view.trips} round trips · "
            + (f"unrealised P&L {money(view.unrealised)}" if view.unrealised is not None else "unrealised P&L —")
            + " (open lots at the last close in range)")


@cache.memoize(timeout=VIEW_TTL_SECONDS)
def symbols() -> list[str]:
    """Symbols with fills or an open position."""
    with get_context().store.read() as session:
        held = [p["symbol"] for p in queries.positions(session)]
        return sorted(set(pq.traded_symbols(session)) | set(held))
