"""Automatic risk triggers: audited state changes that only ever tighten (ACTIVE -> REDUCING -> HALTED).

Called in the caller's transaction by the gateway (on a limit breach it just saw) and by sync
(after each account snapshot), so the trigger commits together with the facts that caused it.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from engine.store.models import OrderRow
from engine.trading import state as trading_state
from engine.trading.risk_limits import RiskLimits
from engine.trading.state import TradingState

log = logging.getLogger(__name__)
RISK_ACTOR = "system:risk"
_RANK = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}
HUNDRED = Decimal(100)


def tighten(session: Session, now: datetime, to: TradingState, reason: str, actor: str = RISK_ACTOR) -> bool:
    """Move to a stricter state; a no-op when already as strict (or shutting down / stopped)."""
    cur = trading_state.current(session, lock=True).state
    if cur not in _RANK or to not in _RANK or _RANK[cur] >= _RANK[to]:
        return False
    trading_state.change(session, now, to, actor, reason)
    log.warning("risk trigger: %s -> %s: %s", cur, to, reason)
    return True


def equity_breaches(equity: Decimal, start_of_day: Decimal | None, peak: Decimal | None,
                    limits: RiskLimits) -> list[tuple[TradingState, str]]:
    """Daily loss (from start-of-day equity) and drawdown (from the running peak) past their limits: (the state
    each asks for, why). Pure: equity_triggers applies them; sync asks first whether any would tighten."""
    breaches: list[tuple[TradingState, str]] = []
    if start_of_day:
        loss = (start_of_day - equity) / start_of_day * HUNDRED
        if loss >= limits.daily_loss_limit_pct:
            breaches.append((TradingState(limits.daily_loss_action),
                             f"daily loss limit: equity {equity:.2f} is {loss:.2f}% below the start-of-day "
                             f"{start_of_day:.2f} (limit {limits.daily_loss_limit_pct}%)"))
    if peak:
        dd = (peak - equity) / peak * HUNDRED
        if dd >= limits.max_drawdown_pct:
            breaches.append((TradingState(limits.drawdown_action),
                             f"drawdown limit: equity {equity:.2f} is {dd:.2f}% below its peak {peak:.2f} "
                             f"(limit {limits.max_drawdown_pct}%)"))
    return breaches


def would_tighten(session: Session, breaches: list[tuple[TradingState, str]]) -> bool:
    """Whether any breach would move the trading state (read without the row lock: a hint, tighten decides)."""
    try:
        cur = trading_state.current(session).state
    except LookupError:  # no state yet: tighten decides (and says so) as it always did
        return True
    return cur in _RANK and any(to in _RANK and _RANK[to] > _RANK[cur] for to, _ in breaches)


def equity_triggers(session: Session, now: datetime, equity: Decimal, start_of_day: Decimal | None,
                    peak: Decimal | None, limits: RiskLimits) -> list[str]:
    """Daily loss and drawdown (equity_breaches) applied: the reasons that fired."""
    return [reason for to, reason in equity_breaches(equity, start_of_day, peak, limits)
            if tighten(session, now, to, reason)]


# Built once (checked every cycle); `since` is bound at execution.
_REJECTED_COUNT = select(func.count()).select_from(OrderRow).where(
    OrderRow.status == "rejected", OrderRow.updated_at >= bindparam("since"), OrderRow.reject_reason.startswith("broker:"),
)


def rejection_since(market_clock: Any, now: datetime, limits: RiskLimits) -> datetime:
    """The market time the rejection window starts at: order rows carry the market clock's time, the window
    is wall-clock seconds (`now` is the wall clock)."""
    return market_clock.at_wall(now - timedelta(seconds=limits.rejection_window_seconds))


def rejection_trigger(session: Session, now: datetime, limits: RiskLimits, since: datetime | None = None) -> str | None:
    """Too many orders rejected by the broker lately (our own risk checks' refusals do not count).

    `now`: the wall clock (the state change); `since`: where the window starts in the orders' market time
    (rejection_since); None when the market runs on the wall clock."""
    if since is None:
        since = now - timedelta(seconds=limits.rejection_window_seconds)
    count = session.scalar(_REJECTED_COUNT, {"since": since}) or 0
    if count < limits.max_rejections:
        return None
    reason = (f"{count} orders rejected by the broker in the last {limits.rejection_window_seconds:.0f}s "
              f"(limit {limits.max_rejections}); check the rejections on the Trading page")
    return reason if tighten(session, now, TradingState(limits.rejection_action), reason) else None
