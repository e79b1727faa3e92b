"""The Trading page's positions and open-orders cards through the real app and HTTP, as the browser's renderer calls
them, on SQLite and PostgreSQL: the first refresh draws a slot table; afterwards no refresh draws it again while the
rows fit its slots: a moved mark is one cell's new text, a closed position empties (hides) its slot, a new one
fills a slot that was empty, and the Close and Cancel callbacks learn from the page's own key cells which row the
clicked slot showed. The page state the browser would hold is kept here by applying each response to it."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from components.trading_tables import ORDERS, POSITIONS
from engine.store.models import OrderRow, PositionRow
from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.planner_page_fixtures import seeded_app
from webapp import trading_queries


@pytest.fixture()
def seeded(test_settings: Any, any_db_url: str) -> Any:
    app, ctx = seeded_app(test_settings(engine_mode="none", database_url=any_db_url), held=2)
    now = ctx.clock.now()
    with ctx.store.write() as s:
        for i, symbol in enumerate(("AAA", "BBB")):
            s.add(OrderRow(client_order_id=f"rest-{i}", broker_order_id=None, symbol=symbol, side="buy",
                           qty=Decimal(10), order_type="limit", limit_price=Decimal("50.5"), status="new",
                           origin="manual", actor="test", param_version_id=None, created_at=now, updated_at=now))
    yield app, ctx
    ctx.store.dispose()


def key(ident: dict[str, Any]) -> str:
    return json.dumps(ident, sort_keys=True, separators=(",", ":"))


class Page:
    """One slot table as the browser holds it: cell texts and classes, rows' hidden flags, the empty note, shape."""

    def __init__(self, name: str) -> None:
        self.name, self.shape = name, None
        self.cells: dict[str, list[Any]] = {}  # key(id) -> [id, children, className]
        self.rows: dict[str, list[Any]] = {}  # key(id) -> [id, hidden]
        self.notes: dict[str, list[Any]] = {}
        self.hrefs: dict[str, Any] = {}

    def load(self, tree: Any) -> None:
        self.cells, self.rows, self.notes = {}, {}, {}
        self._walk(tree)

    def _walk(self, node: Any) -> None:
        if isinstance(node, list):
            for child in node:
                self._walk(child)
            return
        if not isinstance(node, dict):
            return
        props = node.get("props", {})
        ident = props.get("id")
        kind = ident.get("type", "") if isinstance(ident, dict) else ""
        if kind == f"{self.name}-cell":
            self.cells[key(ident)] = [ident, props.get("children"), props.get("className")]
            self.hrefs[key(ident)] = props.get("href")
        elif kind == f"{self.name}-row":
            self.rows[key(ident)] = [ident, props.get("hidden")]
        elif kind == f"{self.name}-empty":
            self.notes[key(ident)] = [ident, props.get("hidden"), props.get("children")]
        self._walk(props.get("children"))

    def slots(self, field: str) -> list[str | None]:
        hidden = {v[0]["slot"]: v[1] for v in self.rows.values()}
        out: list[str | None] = [None] * len(self.rows)
        for ident, text, _cls in self.cells.values():
            if ident["field"] == field and not hidden[ident["slot"]]:
                out[ident["slot"]] = text
        return out

    def cell(self, slot: int, field: str) -> Any:
        return self.cells[key({"type": f"{self.name}-cell", "slot": slot, "field": field})][1]

    def apply(self, response: dict[str, Any]) -> None:
        for ident, props in response.items():
            for prop, value in props.items():
                if ident in self.cells and prop in ("children", "className"):
                    self.cells[ident][1 if prop == "children" else 2] = value
                elif ident in self.cells and prop == "href":
                    self.hrefs[ident] = value
                elif ident in self.rows:
                    self.rows[ident][1] = value
                elif ident in self.notes:
                    self.notes[ident][1 if prop == "hidden" else 2] = value


def refresh(client: Any, dep: dict[str, Any], section: str, shape_id: str, page: Page, n: int) -> dict[str, Any]:
    """One interval tick of the card's refresh callback with the page's current states; the response ({} on 204)."""
    cells = list(page.cells.values())
    rows = list(page.rows.values())
    notes = list(page.notes.values())

    def entries(items: list[list[Any]], prop: str, at: int) -> list[dict[str, Any]]:
        return [{"id": item[0], "property": prop, "value": item[at]} for item in items]

    outputs = [{"id": section, "property": "children"}, {"id": shape_id, "property": "data"},
               [{"id": c[0], "property": "children"} for c in cells], [{"id": c[0], "property": "className"} for c in cells],
               [{"id": r[0], "property": "hidden"} for r in rows], [{"id": n_[0], "property": "hidden"} for n_ in notes]]
    if ".href" in dep["output"]:  # the positions card also writes its key cells' links
        outputs.append([{"id": c[0], "property": "href"} for c in cells if c[0]["field"] == "symbol"])
    outputs.append([{"id": n_[0], "property": "children"} for n_ in notes])  # the note's text (rows left out)
    body = {"output": dep["output"], "outputs": outputs,
            "inputs": [{"id": "trading-interval", "property": "n_intervals", "value": n}],
            "state": [{"id": shape_id, "property": "data", "value": page.shape}, entries(cells, "children", 1),
                      entries(cells, "className", 2), entries(rows, "hidden", 1), entries(notes, "hidden", 1),
                      entries(notes, "children", 2)],
            "changedPropIds": ["trading-interval.n_intervals"]}
    got = client.post(wr.CALLBACK_URL, json=body)
    assert got.status_code in (200, 204), got.get_data(as_text=True)[:500]
    response = got.get_json()["response"] if got.status_code == 200 else {}
    if section in response:
        page.load(response[section]["children"])
    if shape_id in response:
        page.shape = response[shape_id]["data"]
    page.apply(response)
    return response


def forget(app: Any) -> None:
    with app.server.app_context():
        trading_queries.forget()


def test_positions_fill_and_empty_their_slots_without_a_redraw(seeded: Any) -> None:
    app, ctx = seeded
    with ctx.store.read() as s:
        held = sorted(s.scalars(select(PositionRow.symbol).where(PositionRow.qty != 0)))
    trader = login_client(app, "trader")
    dep = wr.find(wr.dependencies(trader), "trading-positions.children")
    page = Page(POSITIONS.name)
    first = refresh(trader, dep, "trading-positions", "trading-positions-shape", page, 1)
    assert "trading-positions" in first and page.shape == [True, 10]
    assert page.slots("symbol") == [*held, *[None] * 8]
    assert refresh(trader, dep, "trading-positions", "trading-positions-shape", page, 2) == {}  # nothing moved

    with ctx.store.write() as s:  # a new mark: one cell (and its P&L) change, nothing is drawn again
        s.execute(update(PositionRow).where(PositionRow.symbol == held[0]).values(market_price=Decimal("123.45")))
    forget(app)
    moved = refresh(trader, dep, "trading-positions", "trading-positions-shape", page, 3)
    assert "trading-positions" not in moved and page.cell(0, "market_price") == "$123.45"

    with ctx.store.write() as s:  # the first position closes and a new one opens, in one refresh
        s.execute(delete(PositionRow).where(PositionRow.symbol == held[0]))
        s.add(PositionRow(symbol="ZZZ", qty=Decimal(1200), avg_entry_price=Decimal("10.5"), market_price=Decimal(11),
                          unrealized_pnl=Decimal(600), updated_at=datetime(2026, 1, 5, tzinfo=UTC)))
    forget(app)
    changed = refresh(trader, dep, "trading-positions", "trading-positions-shape", page, 4)
    assert "trading-positions" not in changed and "trading-positions-shape" not in changed
    assert page.slots("symbol") == [None, held[1], "ZZZ", *[None] * 7]  # ZZZ took a slot that was already empty
    assert page.cell(2, "qty") == "1,200" and page.cell(0, "symbol") == ""
    assert page.hrefs[key(POSITIONS.cell_id(2, "symbol"))] == "/performance?symbol=ZZZ"

    # the Close callback: the page's key cells say which symbol a slot showed; an emptied slot asks nothing
    ask = wr.find(wr.dependencies(trader), "trading-close-body.children")
    keys = [{"id": c[0], "property": "children", "value": c[1]} for c in page.cells.values() if c[0]["field"] == "symbol"]

    def click(slot: int) -> Any:
        body = {"output": ask["output"], "outputs": [{"id": "trading-close-modal", "property": "is_open"},
                                                      {"id": "trading-close-body", "property": "children"},
                                                      {"id": "trading-close-target", "property": "data"}],
                "inputs": [[{"id": POSITIONS.button_id(i), "property": "n_clicks", "value": int(i == slot)}
                            for i in range(10)], {"id": "trading-close-cancel", "property": "n_clicks", "value": 0}],
                "state": [keys], "changedPropIds": [f"{key(POSITIONS.button_id(slot))}.n_clicks"]}
        got = trader.post(wr.CALLBACK_URL, json=body)
        assert got.status_code == 200, got.get_data(as_text=True)[:400]
        return got.get_json()["response"]

    opened = click(2)
    assert opened["trading-close-modal"]["is_open"] is True
    target = opened["trading-close-target"]["data"]
    assert target["symbol"] == "ZZZ" and Decimal(target["qty"]) == 1200  # PostgreSQL keeps the column's scale
    assert "sell 1,200 ZZZ at market" in opened["trading-close-body"]["children"]
    assert click(0)["trading-close-modal"]["is_open"] is False  # the slot had emptied: no dialog, nothing to close


def test_open_orders_keep_their_slots_and_a_cancelled_one_empties_its_slot(seeded: Any) -> None:
    app, ctx = seeded
    trader = login_client(app, "trader")
    dep = wr.find(wr.dependencies(trader), "trading-orders.children")
    page = Page(ORDERS.name)
    refresh(trader, dep, "trading-orders", "trading-orders-shape", page, 1)
    newer, older = page.slots("id")[:2]  # newest first
    assert newer is not None and older is not None and int(newer) > int(older) and page.shape == [True, 10]
    with ctx.store.write() as s:
        s.execute(update(OrderRow).where(OrderRow.id == int(older)).values(
            status="partially_filled", filled_qty=Decimal(4), filled_avg_price=Decimal("50.25")))
    forget(app)
    moved = refresh(trader, dep, "trading-orders", "trading-orders-shape", page, 2)
    assert "trading-orders" not in moved
    assert (page.cell(1, "status"), page.cell(1, "filled_qty"), page.cell(1, "filled_avg_price")) == \
        ("partially_filled", "4", "$50.25")
    with ctx.store.write() as s:
        s.execute(update(OrderRow).where(OrderRow.id == int(newer)).values(status="cancelled"))
    forget(app)
    gone = refresh(trader, dep, "trading-orders", "trading-orders-shape", page, 3)
    assert "trading-orders" not in gone and page.slots("id")[:2] == [None, older]
    assert refresh(trader, dep, "trading-orders", "trading-orders-shape", page, 4) == {}


def test_a_viewer_gets_the_table_without_buttons(seeded: Any) -> None:
    app, _ctx = seeded
    viewer = login_client(app, "viewer")
    dep = wr.find(wr.dependencies(viewer), "trading-positions.children")
    page = Page(POSITIONS.name)
    first = refresh(viewer, dep, "trading-positions", "trading-positions-shape", page, 1)
    assert page.shape == [False, 10] and POSITIONS.button_type not in json.dumps(first["trading-positions"])
