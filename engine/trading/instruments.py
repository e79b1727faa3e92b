"""Which symbols can be ordered at all: the market source's index is quoted, never traded.

The order gateway's check (risk.check_tradable) and the ticket forms (webapp/manual_orders.py) ask the
same functions, so a form refuses at once with the words the gateway would use.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.models import Instrument

# Instrument kinds (engine/store/models/market.py Instrument.kind) no order may open: the market source's index
# (IDX in the simulated market) is recorded as "index" by jobs.ensure_instruments; it is quoted, not traded.
# Alpaca's index is SPY, an ETF it trades: OrderFacts.index_tradable lets it through (index_is_tradable below).
NOT_TRADABLE_KINDS = frozenset({"index"})


def not_tradable_reason(symbol: str, kind: str | None, index_tradable: bool = False) -> str | None:
    """Why `symbol` cannot be ordered at all (its instrument kind), or None when it may be."""
    if kind in NOT_TRADABLE_KINDS and not index_tradable:
        return f"{symbol} is an {kind}, not a tradable instrument"
    return None


def source_index_symbol(ctx: object) -> str | None:
    """The market source's index symbol when this process has a source (the engine; the web has none)."""
    source = getattr(ctx, "source", None)
    index_symbol = getattr(source, "index_symbol", None)
    try:
        return str(index_symbol()).upper() if callable(index_symbol) else None
    except Exception:  # noqa: BLE001 - a source that cannot say: the store's Instrument rows still decide
        return None


def index_is_tradable(ctx: object) -> bool:
    """Alpaca's index is SPY, an ETF Alpaca trades (and refuses itself what it cannot); the simulated market's
    and a CSV source's index are quoted series no broker could fill."""
    return str(getattr(getattr(ctx, "settings", None), "market_source", "")) == "alpaca"


def instrument_kind(session: Session, symbol: str, index_symbol: str | None = None) -> str | None:
    """The instrument's kind ("index" | "stock") as the store records it (jobs.ensure_instruments), or "index"
    for the market source's index symbol; None for a symbol the store does not know."""
    sym = symbol.strip().upper()
    if index_symbol and sym == index_symbol.upper():
        return "index"
    return session.scalar(select(Instrument.kind).where(Instrument.symbol == sym))


def refusal_for_symbol(session: Session, symbol: str, index_symbol: str | None = None,
                       index_tradable: bool = False) -> str | None:
    """Why no order for `symbol` can be sent (e.g. "IDX is an index, not a tradable instrument"), or None.
    The gateway's own check (risk.check_tradable) says the same; forms call this to refuse at once."""
    return not_tradable_reason(symbol.strip().upper(), instrument_kind(session, symbol, index_symbol), index_tradable)
