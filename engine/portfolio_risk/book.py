"""The current book read from the store, and its history, for the risk cycle and the gateway.

The history is cached per (database, names, newest bar, lookback): the gateway checks every order
against it, and it only changes when a new bar arrives. A small bounded dict, per process.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from decimal import Decimal

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.portfolio_risk.freshness import StaleClose, bar_length_s, fresh_mark, stale_limit_s, stale_note
from engine.portfolio_risk.report import Book
from engine.portfolio_risk.returns import ReturnsHistory, load
from engine.protocols import BarHistory
from engine.store.models import BarRow, PositionRow
from engine.trading.equity import latest_equity
from engine.trading.marks import latest_closes
from engine.trading.open_sides import open_order_sides, worst_qty

_CACHE: OrderedDict[tuple[object, ...], ReturnsHistory] = OrderedDict()
_CACHE_SIZE = 16
_POSITIONS = select(PositionRow)  # built once: read every cycle (building it cost more than running it)
_NEWEST_BAR = select(func.max(BarRow.ts))
_LOCK = threading.Lock()
_FALLBACKS_LOGGED: set[tuple[str, str]] = set()  # (symbol, how): logged once per process
log = logging.getLogger(__name__)


def read_book(session: Session, with_open_orders: bool = False, equity: float | None = None) -> Book:
    """Positions at the last stored closes, a position without a valid close at its broker market price, else its
    entry price (logged once per symbol and way); `equity` when the caller already read it (else the newest
    account snapshot's). `with_open_orders`: each symbol at its worst case with our open orders
    (engine/trading/open_sides.py): resting orders that add to |position| count as filled, resting exits do not,
    since they may never fill.

    A close older than the stale-data limit when the broker last reported the position is replaced by the
    position's market price (engine/portfolio_risk/freshness.py), and the book's note names the symbol: a close
    30 days old once valued a short at 5,000 while the broker marked it at 8,000."""
    rows = {p.symbol: p for p in session.scalars(_POSITIONS)}
    qty: dict[str, Decimal] = {s: p.qty for s, p in rows.items()}
    if with_open_orders:
        for sym, sides in open_order_sides(session).items():
            qty[sym] = worst_qty(qty.get(sym, Decimal(0)), sides)
    held = sorted(s for s, q in qty.items() if q != 0)
    closes = latest_closes(session, held)
    limit_s, bar_s = (stale_limit_s(session), bar_length_s(session)) if closes else (0.0, 0.0)
    marks: dict[str, tuple[Decimal, str] | None] = {}
    stale: list[StaleClose] = []
    for sym in held:
        marks[sym], old = fresh_mark(sym, closes.get(sym), rows.get(sym), limit_s, bar_s)
        if old is not None:
            stale.append(old)
    _log_fallbacks(marks, {s.symbol for s in stale})
    priced = [(s, m[0]) for s, m in marks.items() if m is not None]
    if equity is None:
        marked = latest_equity(session)
        equity = float(marked) if marked is not None else None
    return Book(tuple(s for s, _ in priced), np.array([float(qty[s]) for s, _ in priced]),
                np.array([float(p) for _, p in priced]), equity, stale_note(stale, limit_s))


def _log_fallbacks(marks: dict[str, tuple[Decimal, str] | None], stale: set[str]) -> None:
    """Say, once per process for each symbol and way, which positions are not valued at a fresh stored close."""
    for sym, mark in marks.items():
        how = "unvalued" if mark is None else "stale" if sym in stale else mark[1]
        if how == "close" or (sym, how) in _FALLBACKS_LOGGED:
            continue
        with _LOCK:
            _FALLBACKS_LOGGED.add((sym, how))
        if how == "stale" and mark is not None:
            used = "the broker's market price" if mark[1] == "market_price" else "that close (no broker price)"
            log.warning("risk book: %s's last stored close is older than the stale-data limit; valued at %s %s",
                        sym, used, mark[0])
        elif mark is None:
            log.warning("risk book: cannot value %s (no valid close, market price or entry price); left out", sym)
        else:
            log.warning("risk book: %s has no valid stored close; valued at its position's %s %s", sym, how, mark[0])


def history(session: Session, symbols: Iterable[str], lookback_bars: int, bars: BarHistory | None = None) -> ReturnsHistory:
    """Recent returns of `symbols` (and the index), from the cache while no new bar has arrived.

    `bars`: a backtest's bars in memory (engine/backtest/history.py), read directly (no store read, no cache)."""
    names: Sequence[str] = tuple(sorted(set(symbols)))
    if bars is not None:
        return load(session, names, lookback_bars, bars)
    newest = session.scalar(_NEWEST_BAR)
    key = (str(session.get_bind().engine.url), names, newest, lookback_bars)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    found = load(session, names, lookback_bars)
    with _LOCK:
        _CACHE[key] = found
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return found
