"""The Audit page's filters from browser values and the CSV export route (trader and admin); sign-in and user
rows only for admins (hidden_actions).

Filters arrive from the page or from the export link's query string, both untrusted: each is
bounded and parsed here, and anything unusable is ignored rather than raising. A NUL byte (or a lone
surrogate) in a text filter becomes U+FFFD as the store writes such text (users.storable): the filter then finds
only rows stored that way (a login name typed with a NUL), never raises.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, request

from engine.auth import principal
from engine.auth.roles import Role, at_least
from engine.auth.users import storable
from engine.store import audit_queries as aq
from webapp.context import get_context
from webapp.csv_safety import spreadsheet_safe

FIELDS = ("user", "action", "kind", "outcome", "since", "until")
CSV_COLUMNS = ("id", "ts", "actor", "role", "source", "kind", "action", "target", "outcome", "details")


def _day(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) > 32:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def parse_filter(values: Mapping[str, Any]) -> aq.AuditFilter:
    def text(name: str) -> str:  # storable: a NUL byte made PostgreSQL refuse the query (a 500)
        value = values.get(name)
        return storable(value.strip()) if isinstance(value, str) else ""

    since, until = _day(values.get("since")), _day(values.get("until"))
    kind = text("kind")
    return aq.AuditFilter(
        user=text("user"), action=text("action"), kind=kind if kind in aq.KINDS else "", outcome=text("outcome"),
        since=datetime(since.year, since.month, since.day, tzinfo=UTC) if since else None,
        until=_day_after(until), hidden=hidden_actions(),
    )


def hidden_actions() -> tuple[str, ...]:
    """What the logged-in reader may not see: the sign-in and user-management rows (who logged in from where,
    lockouts, a password typed into the name box) are for admins; viewers and traders see the rest."""
    return () if at_least(principal.current().role, Role.ADMIN) else aq.RESTRICTED_ACTIONS


def _day_after(day: date | None) -> datetime | None:
    """The end of an inclusive "to" day: midnight after it (none after the last day a date can hold)."""
    if day is None or day == date.max:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)


def export_link(values: Mapping[str, Any]) -> str:
    """The CSV link for the page's filters; storable, as parse_filter reads them (a lone surrogate has no UTF-8
    form: urlencode raised)."""
    query = {k: storable(v, 256) for k, v in values.items() if k in FIELDS and isinstance(v, str) and v}
    return "/audit.csv" + (f"?{urlencode(query)}" if query else "")


def _csv_lines(f: aq.AuditFilter) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    store = get_context().store
    with store.read() as s:
        for n, event in enumerate(aq.iterate(s, f), start=1):
            writer.writerow([spreadsheet_safe(cell) for cell in (
                event["id"], event["ts"].isoformat(), event["actor"], event["role"], event["source"], event["kind"],
                event["action"], event["target"], event["outcome"], aq.readable_details(event["details"], limit=10_000))])
            if n % 500 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()


def register_audit_export(server: Flask) -> None:
    @server.route("/audit.csv", endpoint="audit_csv")
    def audit_csv() -> Response:
        f = parse_filter(request.args)
        lines = list(_csv_lines(f))  # read inside this request (the store session must not outlive it)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        return Response(lines, mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="regimedesk-audit-{stamp}.csv"'})
