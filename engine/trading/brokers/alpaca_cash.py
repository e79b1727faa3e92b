"""Reading Alpaca's deposits, withdrawals and cash journals (non-trade account activities) for the sync.

Why: a deposit or withdrawal moves the account's equity without any trading; the sync records these so the
risk engine's peak and start-of-day equity and the Performance page's returns leave them out.

GET /v2/account/activities?activity_types=CSD,CSW,JNLC (CSD cash deposit +, CSW cash withdrawal -, JNLC cash
journal, signed), oldest first, paged by the last activity id (at most 100 a page). An activity has an id
("<time>::<uuid>"), activity_type, date, net_amount and a status; a canceled (or not yet executed) one has not
moved any money and is left out.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from alpaca.trading.client import TradingClient

from engine.trading.brokers.alpaca_calls import GuardedCaller
from engine.trading.brokers.base import BrokerCashFlow, BrokerError

CASH_TYPES = ("CSD", "CSW", "JNLC")
PAGE = 100  # Alpaca's maximum page size for GET /v2/account/activities
MAX_PAGES = 40  # 4,000 cash activities a read at most: the read stops there and says so
NOT_MOVED = {"canceled", "cancelled", "rejected", "pending", "failed"}  # statuses that moved no money
NEW_YORK = ZoneInfo("America/New_York")


def _occurred(activity: dict[str, Any]) -> datetime:
    """The activity's time: its transaction_time when given, else the start of its date in New York (Alpaca dates
    non-trade activities by day), else the time in its id."""
    stamp = activity.get("transaction_time")
    if stamp:
        ts = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    day = str(activity.get("date") or "")[:10]
    if not day:
        day = str(activity.get("id") or "")[:8]
        day = f"{day[:4]}-{day[4:6]}-{day[6:8]}"
    return datetime.combine(date.fromisoformat(day), time(0), tzinfo=NEW_YORK).astimezone(UTC)


def to_cash_flow(activity: dict[str, Any]) -> BrokerCashFlow | None:
    """One activity as a cash flow; None for one that moved no money (canceled, pending, zero)."""
    kind = str(activity.get("activity_type") or "").upper()
    if kind not in CASH_TYPES or str(activity.get("status") or "executed").lower() in NOT_MOVED:
        return None
    try:
        amount = Decimal(str(activity.get("net_amount")))
    except (InvalidOperation, ValueError):
        raise BrokerError(f"Alpaca cash activity {activity.get('id')}: net_amount "
                          f"{activity.get('net_amount')!r} is not a number.") from None
    if kind == "CSD":
        amount = abs(amount)
    elif kind == "CSW":
        amount = -abs(amount)
    if amount == 0:
        return None
    return BrokerCashFlow(activity_id=str(activity["id"])[:128], kind=kind, amount=amount,
                          occurred_at=_occurred(activity), description=str(activity.get("description") or "")[:200])


def cash_flows_since(client: TradingClient, calls: GuardedCaller, where: Callable[[str], str],
                     since: datetime | None) -> list[BrokerCashFlow]:
    """Every executed CSD / CSW / JNLC activity dated at or after ``since`` (None: all), oldest first."""
    op = "list cash activities"
    rows: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(MAX_PAGES):
        params: dict[str, Any] = {"activity_types": ",".join(CASH_TYPES), "direction": "asc", "page_size": PAGE}
        if since is not None:
            params["after"] = (since.astimezone(UTC).date() - timedelta(days=1)).isoformat()  # dated by day
        if token:
            params["page_token"] = token
        page = calls.value(op, calls.call(op, functools.partial(client.get, "/account/activities", params)))
        if not isinstance(page, list):
            raise BrokerError(f"{where(op)}: unexpected answer (not a list).")
        rows.extend(page)
        if len(page) < PAGE:
            flows = [f for f in (to_cash_flow(a) for a in rows) if f is not None]
            return [f for f in flows if since is None or f.occurred_at >= since]
        token = str(page[-1].get("id"))
    raise BrokerError(f"{where(op)}: more than {MAX_PAGES * PAGE} cash activities; the sync stops here rather "
                      "than page for ever.")
