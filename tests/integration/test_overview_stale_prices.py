"""The Overview's Prices and Positions tables show each price's time and mark a price older than the stale-data
limit (audit4 defect 7), through the real Dash app over HTTP (viewer login), on SQLite and PostgreSQL.

ALFA's bars stopped two days ago at 52 while IDX and BETA are a minute old. Before, ALFA showed 52.00 and $200.00
unrealised like any current price. Now its rows say when (the bar's time) and carry a 'stale' badge and the
warning tint: two days is far past the 300 s default (TradingRisk stale_data_seconds). The paper broker marks a
position to the last stored close, so the position synced just now still carries the two-day-old price.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from engine.store.models import BarRow, Instrument, PositionRow
from tests import web_requests as wr
from tests.auth_helpers import login_client


def rows_of(table: Any) -> list[tuple[str | None, list[str]]]:
    """(row class, each cell's text) of a rendered table's body rows."""
    found: list[tuple[str | None, list[str]]] = []

    def text(node: Any) -> str:
        if node is None:
            return ""
        if isinstance(node, str | int | float):
            return str(node)
        if isinstance(node, list):
            return " ".join(t for t in (text(n) for n in node) if t)
        return text(node.get("props", {}).get("children"))

    def walk(node: Any, in_body: bool) -> None:
        if isinstance(node, list):
            for n in node:
                walk(n, in_body)
        elif isinstance(node, dict):
            kind, props = node.get("type"), node.get("props", {})
            if kind == "Tr" and in_body:
                cells = props.get("children") or []
                found.append((props.get("className"), [text(c) for c in cells]))
                return
            walk(props.get("children"), in_body or kind == "Tbody")

    walk(table, False)
    return found


def minute(ts: datetime) -> str:
    return f"{ts.year:04d}-{ts.month:02d}-{ts.day:02d} {ts.hour:02d}:{ts.minute:02d}"


def test_stale_prices_show_their_time_and_a_stale_mark(test_settings: Callable[..., Any], any_db_url: str) -> None:
    from app import create_app
    from webapp.context import get_context
    from webapp.queries import market_now

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=0), start_engine=False)
    client = login_client(app, "viewer")
    with app.server.test_request_context("/"):
        store, now = get_context().store, market_now()
    fresh, old = now - timedelta(minutes=1), now - timedelta(days=2)
    with store.write() as s:
        s.add(Instrument(symbol="IDX", kind="index", has_options=False, source="simulated"))
        for sym in ("ALFA", "BETA"):
            s.add(Instrument(symbol=sym, kind="stock", has_options=False, source="simulated"))
        for sym, ts, close in (("IDX", fresh, 4000.0), ("ALFA", old, 52.0), ("BETA", fresh, 21.0)):
            s.add(BarRow(symbol=sym, ts=ts, open=close, high=close, low=close, close=close, volume=1))
        for sym, mark in (("ALFA", 52), ("BETA", 21)):  # synced just now, marked to the last close (paper)
            s.add(PositionRow(symbol=sym, qty=Decimal(100), avg_entry_price=Decimal(50), market_price=Decimal(mark),
                              unrealized_pnl=Decimal((mark - 50) * 100), updated_at=now))
    deps = wr.dependencies(client)
    tick = {"overview-interval.n_intervals": 1}
    got = wr.call(client, wr.find(deps, "overview-prices.children"), tick,
                  trigger="overview-interval.n_intervals").get_json()
    prices = rows_of(got["response"]["overview-prices"]["children"])
    assert prices == [
        (None, ["IDX", "4,000.00", "+0.00%", minute(fresh)]),
        ("table-warning", ["ALFA", "52.00", "+0.00%", f"{minute(old)} stale"]),
        (None, ["BETA", "21.00", "+0.00%", minute(fresh)]),
    ], prices
    got = wr.call(client, wr.find(deps, "overview-positions.children"), tick,
                  trigger="overview-interval.n_intervals").get_json()
    positions = rows_of(got["response"]["overview-positions"]["children"])
    assert positions == [  # ALFA: (52 - 50) x 100 = $200.00 at a two-day-old price; BETA: (21 - 50) x 100
        ("table-warning", ["ALFA", "100", "50.00", "52.00", "$200.00", f"{minute(old)} stale"]),
        (None, ["BETA", "100", "50.00", "21.00", "-$2,900.00", minute(fresh)]),
    ], positions
