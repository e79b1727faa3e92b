"""Read functions of the Regime page: stored classifications, the regime catalogue of the active
parameter version, and the stored market history a what-if replay runs over.

Kept apart from engine/store/queries.py so the Regime page's reads live in one place. Every
function takes a Session and returns plain data (dicts, DataFrames, engine records) that cache well.
"""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import desc, select
from sqlalchemy.orm import Session

from engine.market.exchange import MarketCalendar, regular_session_bars
from engine.market.types import OptionChain
from engine.params import ParamSet
from engine.params.typed import Parameters
from engine.params.versions import active_params
from engine.store import queries
from engine.store.current_regime import of_snapshot
from engine.store.models import OptionChainSnapshot, ParamVersion, RegimeSnapshot
from engine.store.writes import unpack_chain

HISTORY_COLUMNS = ["id", "ts", "symbol", "regime_id", "regime_name", "confidence", "raw_score",
                   "volatility_value", "volatility_class", "trend_value", "trend_class", "time_in_regime_s",
                   "is_transition", "transition_rule", "param_version_id"]


def regime_history(session: Session, limit: int = 2000, symbol: str | None = None) -> pd.DataFrame:
    """The newest `limit` stored classifications, oldest first (no module JSON: cheap for charts)."""
    cols = [getattr(RegimeSnapshot, c) for c in HISTORY_COLUMNS]
    query = select(*cols).order_by(desc(RegimeSnapshot.id)).limit(limit)
    if symbol is not None:
        query = query.where(RegimeSnapshot.symbol == symbol)
    frame = pd.DataFrame(session.execute(query).all(), columns=HISTORY_COLUMNS)
    return frame.iloc[::-1].reset_index(drop=True)


def latest_regime(session: Session, symbol: str | None = None) -> dict[str, Any] | None:
    """The newest stored classification with its module details, or None before the first one."""
    query = select(RegimeSnapshot).order_by(desc(RegimeSnapshot.id)).limit(1)
    if symbol is not None:
        query = query.where(RegimeSnapshot.symbol == symbol)
    snap = session.scalars(query).first()
    if snap is None:
        return None
    out = {c: getattr(snap, c) for c in HISTORY_COLUMNS}
    payload = snap.modules or {}
    out["modules"] = list(payload.get("modules", []))
    out["record"] = dict(payload.get("record", {}))
    out["classes"] = dict(payload.get("classes", {}))  # how the trend/volatility classes were decided
    out["ensemble"] = payload.get("ensemble")  # the ensemble's verdict (None before a model was fitted)
    out["effective"] = asdict(of_snapshot(snap))  # the regime the engine acts on, beside the rule-based regime_name
    return out


def version_info(session: Session, version_id: int | None) -> dict[str, Any] | None:
    """Who applied a parameter version and when (None for the schema defaults / unknown ids)."""
    if version_id is None:
        return None
    row = session.get(ParamVersion, version_id)
    if row is None:
        return None
    return {"id": row.id, "created_at": row.created_at, "author": row.author, "source": row.source,
            "note": row.note or "", "is_active": bool(row.is_active)}


def regime_catalogue_of(params: ParamSet) -> list[dict[str, Any]]:
    """RegimeClassification rows joined with their RegimeParameters durations (minutes), by regime id."""
    typed = Parameters(params)
    durations = {int(r.regime_id): r for r in typed.regime_parameters.rows}
    out = []
    for r in typed.regime_classification.rows:
        d = durations.get(int(r.regime_id))
        out.append({"regime_id": int(r.regime_id), "regime_name": str(r.regime_name), "color": str(r.color),
                    "volatility_class": str(r.volatility_class), "trend_class": str(r.trend_class),
                    "priority": int(r.priority), "description": str(r.description or ""),
                    "min_duration": d.min_duration if d is not None else r.min_duration,
                    "typical_duration": d.typical_duration if d is not None else None,
                    "max_duration": d.max_duration if d is not None else None,
                    "trading_bias": d.trading_bias if d is not None else ""})
    return out


def regime_catalogue(session: Session) -> dict[str, Any]:
    """The active version's regimes (names, colours, expected durations) and that version's details."""
    params = active_params(session)
    return {"version_id": params.version_id, "version": version_info(session, params.version_id),
            "content_hash": params.content_hash, "regimes": regime_catalogue_of(params)}


def session_bars(session: Session, symbol: str, wanted: int, calendar: MarketCalendar | None,
                 max_factor: int = 64) -> pd.DataFrame:
    """The newest `wanted` stored bars inside the calendar's regular session (all bars without an exchange).

    Filtered before counting, as the engine's regime classifies regular-session bars only: Alpaca stores
    pre-market and after-hours minutes too, and a window cut from all bars then filtered held far fewer bars
    than asked. Reads a growing tail (x4 each time, at most `max_factor` x `wanted` rows) until enough are found."""
    limit = max(wanted, 1)
    while True:
        raw = queries.bars(session, symbol, limit)
        frame = regular_session_bars(raw, calendar)
        if len(frame) >= wanted or len(raw) < limit or limit >= wanted * max_factor:
            return frame.iloc[max(0, len(frame) - wanted):].reset_index(drop=True)
        limit = min(limit * 4, wanted * max_factor)


def replay_window(session: Session, symbol: str, bars: int, warmup: int, max_chains: int = 2000,
                  calendar: MarketCalendar | None = None) -> tuple[pd.DataFrame, list[OptionChain], datetime | None]:
    """Stored bars for a replay (the newest `bars` plus `warmup` older ones, regular-session bars only when
    `calendar` has an exchange), the option chains inside that span, and the first timestamp the comparison
    covers (None when there are no bars)."""
    frame = session_bars(session, symbol, bars + warmup, calendar)
    if frame.empty:
        return frame, [], None
    first = frame["timestamp"].iloc[0]
    start = frame["timestamp"].iloc[max(0, len(frame) - bars)]
    rows = session.scalars(
        select(OptionChainSnapshot).where(OptionChainSnapshot.underlying == symbol, OptionChainSnapshot.ts >= first)
        .order_by(desc(OptionChainSnapshot.ts)).limit(max_chains)).all()
    chains = [unpack_chain(c.underlying, c.ts, c.spot, c.data) for c in reversed(rows)]
    return frame, chains, start.to_pydatetime() if hasattr(start, "to_pydatetime") else start
