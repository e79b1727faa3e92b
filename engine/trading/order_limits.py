"""The limits one order is checked against: the active parameter version, read once in the order's transaction.

The gateway calls `order_limits` after it locked the trading state, so each order sees the version committed
before it (an applied version takes effect on the very next order) and no decision mixes two versions: the
per-order RiskLimits, the portfolio limits and the version stamped on the order row all come from that one read.

What a caller's own limits mean:
- none, or a snapshot read from a stored version (RiskLimits.version_id set: the planner's, a screen's, the
  CLI's): the active version's limits apply. A snapshot may be older than the order's transaction, and the
  active version is what a trader applied last, tighter or looser: it is the truth the order must meet.
- `param_version_id` given: the caller's decision was made on that version (the planner sized and gated its plan
  with its limits, presets and regime table). If another version is active now the order is refused
  ("parameters changed since the plan was made (version N -> M): re-plan"), whether the trader tightened or
  loosened: the plan is stale either way. Checked against tighter limits it would go out in part (some steps
  refused, others not); against looser ones it is a plan the new version would not make. Refusing sends nothing
  and records no order (only an audit row), so the next planner cycle plans on the new version, with the same
  idempotency keys if it makes the same steps.
- limits built by hand (version_id None: tests, tools): used as given for the per-order checks; the portfolio
  limits still come from the active version, and the row carries `param_version_id` (usually None).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit
from engine.params.paramset import default_params
from engine.params.versions import get_version
from engine.portfolio_risk.limits import PortfolioLimits
from engine.store.models import ParamVersion
from engine.trading.risk import RiskRejection
from engine.trading.risk_limits import RiskLimits, fail_closed, stored_trading_risk
from engine.trading.triggers import rejection_since

log = logging.getLogger(__name__)
PARAMS_CHANGED = "params_changed"  # the check name of a refusal for a plan made on a replaced version
_ACTIVE_HEAD = (select(ParamVersion.id, ParamVersion.content_hash)
                .where(ParamVersion.is_active.is_(True)).order_by(ParamVersion.id.desc()).limit(1))
_CACHE: dict[tuple[str, int | None, str | None], tuple[RiskLimits, PortfolioLimits]] = {}
_LOCK = threading.Lock()
WindowStart = Callable[[RiskLimits], datetime]  # the rejection window's start for the limits an order used


@dataclass(frozen=True, slots=True)
class OrderLimits:
    risk: RiskLimits  # the per-order checks and the automatic triggers
    portfolio: PortfolioLimits
    version_id: int | None  # stamped on the order row
    refusal: RiskRejection | None = None  # the caller's plan was made on a replaced version: send nothing


def active_version_limits(session: Session) -> tuple[int | None, RiskLimits, PortfolioLimits]:
    """(active version id, its RiskLimits, its PortfolioLimits) in the caller's transaction, parsed once per
    (database, version, content). No version stored: the schema defaults. A stored version that no longer
    loads: fail_closed limits (orders adding exposure refused with the problem named; exits, stops and a
    flatten still go), never the looser defaults."""
    head = session.execute(_ACTIVE_HEAD).first()
    vid, digest = (head[0], head[1]) if head is not None else (None, None)
    key = (str(session.get_bind().engine.url), vid, digest)
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is None:
        try:
            ps = get_version(session, vid) if vid is not None else None
            # as before: RiskLimits from the schema's defaults, PortfolioLimits' own (no limits) when none stored
            cached = (RiskLimits.from_params(ps or default_params()), PortfolioLimits.from_params(ps))
        except Exception as exc:  # noqa: BLE001 - fail closed (as active_limits does), never an order crash
            log.exception("parameter version %s could not be read; only exits are accepted", vid)
            return vid, fail_closed(vid, exc, stored_trading_risk(session, vid)), PortfolioLimits()
        with _LOCK:
            if len(_CACHE) > 8:
                _CACHE.clear()
            _CACHE[key] = cached
    return vid, cached[0], cached[1]


def order_limits(session: Session, limits: RiskLimits | None, param_version_id: int | None) -> OrderLimits:
    """The limits of one order, read in its transaction (see the module docstring for the caller's `limits`)."""
    vid, risk, portfolio = active_version_limits(session)
    if param_version_id is not None and param_version_id != vid:
        return OrderLimits(risk, portfolio, vid, RiskRejection(
            PARAMS_CHANGED, f"parameters changed since the plan was made (version {param_version_id} -> "
                            f"{vid if vid is not None else 'none'}): re-plan"))
    if limits is not None and limits.version_id is None:  # the active version's load failure still applies
        given = limits if risk.params_problem is None else replace(limits, params_problem=risk.params_problem)
        return OrderLimits(given, portfolio, param_version_id)
    return OrderLimits(risk, portfolio, vid)


def record_refusal(session: Session, now: datetime, actor: str, symbol: str, refusal: RiskRejection,
                   **details: Any) -> None:
    """The audit row of a refusal recorded without an order row (its client order id stays free for a re-plan)."""
    audit.record(session, now, actor, "order.rejected", target=symbol, outcome="rejected",
                 details={**details, "check": refusal.check, "reason": refusal.reason})


def window_start(market: Any, now: datetime, guess: RiskLimits) -> WindowStart:
    """rejection_since for the limits the order's transaction ends up using. Worked out before the transaction for
    `guess` (the market clock may read the store); again only when the active version's window differs."""
    known = {guess.rejection_window_seconds: rejection_since(market, now, guess)}
    return lambda used: known.get(used.rejection_window_seconds) or rejection_since(market, now, used)
