"""The fake account's deposits, withdrawals and cash journals: Alpaca's non-trade activities CSD, CSW and JNLC.

``add_cash_flow(book, Decimal(-10000), "CSW")`` moves the fake's cash like a real withdrawal and lists it at
GET /v2/account/activities?activity_types=CSD,CSW,JNLC (date, signed net_amount, status, paged by id).
"""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from tests.fake_alpaca.book import FakeBook


def add_cash_flow(book: FakeBook, amount: Decimal, kind: str = "", *, on: date | None = None,
                  status: str = "executed", moves_cash: bool = True, listed_late: bool = False) -> dict[str, Any]:
    """A deposit (+) or withdrawal (-) of `amount`: CSD / CSW by its sign unless `kind` says (JNLC); the activity.
    `listed_late`: the cash moves now, the activity is listed only from the read after the next one (the broker
    books it a moment after the balance moved)."""
    amount = Decimal(amount)
    kind = kind or ("CSD" if amount > 0 else "CSW")
    now = datetime.now(UTC)
    day = on or now.date()
    activity = {"id": f"{day:%Y%m%d}{now:%H%M%S%f}"[:17] + f"::{uuid.uuid4()}", "activity_type": kind,
                "date": day.isoformat(), "net_amount": format(amount, "f"), "description": f"fake {kind}",
                "status": status}
    with book.lock:
        if moves_cash and status == "executed":
            book.cash += amount
        (book.listed_next_read if listed_late else book.cash_activities).append(activity)
    return activity


def list_activities(book: FakeBook, params: dict[str, str]) -> list[dict[str, Any]]:
    """GET /v2/account/activities: activity_types (comma list), after/until on the date, direction (desc by
    default), page_size <= 100, page_token = the last id of the previous page."""
    types = {t for t in (params.get("activity_types") or "").split(",") if t}
    after, until = params.get("after"), params.get("until")
    with book.lock:
        rows = sorted(list(book.cash_activities), key=lambda a: a["id"])
        book.cash_activities.extend(book.listed_next_read)  # this read missed them; the next one lists them
        book.listed_next_read.clear()
    rows = [a for a in rows if (not types or a["activity_type"] in types)
            and (after is None or a["date"] > after[:10]) and (until is None or a["date"] < until[:10])]
    if params.get("direction", "desc") != "asc":
        rows.reverse()
    token = params.get("page_token")
    if token:
        ids = [a["id"] for a in rows]
        rows = rows[ids.index(token) + 1:] if token in ids else []
    return rows[:min(int(params.get("page_size") or 100), 100)]
