"""The Trading page's open-orders card through the real app and HTTP, as the browser's renderer calls it: the first
refresh draws the table with a Cancel button per open order; an order's status and filled quantity changing in the
store sends no new table, only its cells' new text; an order leaving the open set redraws the table; and no other
callback writes the card (so the Cancel buttons under a trader's pointer are replaced only when the orders change).
On SQLite and on PostgreSQL."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update

from engine.store.models import OrderRow
from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.dash_tree import json_ids
from tests.planner_page_fixtures import seeded_app
from webapp import trading_queries

SHAPE = "trading-orders-shape"
CELL = "trading-order-cell"
CANCEL = "trading-cancel-order"


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


def set_order(app: Any, ctx: Any, order_id: int, **values: Any) -> None:
    """Change an order in the store, as the engine's broker sync does, and drop the web's cached reads."""
    with ctx.store.write() as s:
        s.execute(update(OrderRow).where(OrderRow.id == order_id).values(**values))
    with app.server.app_context():
        trading_queries.forget()


def test_orders_table_is_drawn_once_and_its_cells_follow_the_orders(seeded: Any) -> None:
    app, ctx = seeded
    trader = login_client(app, "trader")
    refreshed = wr.first_refresh(trader, "trading-orders.children")
    table, out = refreshed["callback"], refreshed["response"]
    shape = out[SHAPE]["data"]
    assert shape[0] is True and len(shape[1]) == 2
    newer, older = shape[1]  # newest first
    drawn = json_ids(out["trading-orders"]["children"])
    assert [i["index"] for i in drawn if isinstance(i, dict) and i.get("type") == CANCEL] == [newer, older]
    assert {"type": CELL, "order": older, "field": "status"} in drawn

    # a partial fill: the table stays, the cells change
    set_order(app, ctx, older, status="partially_filled", filled_qty=Decimal(4), filled_avg_price=Decimal("50.25"))
    again = trader.post(wr.CALLBACK_URL, json=wr.build_body(table, {0: 2, 1: shape}))
    assert again.status_code == 204 or again.get_json()["response"] == {}, again.get_data(as_text=True)[:300]

    values = wr.find(wr.dependencies(trader), CELL, "trading-interval")
    shown = {"status": "new", "filled_qty": "0", "filled_avg_price": "—"}
    cells = wr.Matches(({"order": o, "field": f}, shown[f]) for o in (newer, older) for f in shown)
    classes = wr.Matches(({"order": o, "field": f}, "") for o in (newer, older) for f in shown)
    body = wr.build_body(values, {0: 2, 1: cells, 2: classes})
    body["outputs"] = [[{"id": {"type": CELL, **key}, "property": prop} for key, _v in cells]
                       for prop in ("children", "className")]
    moved = trader.post(wr.CALLBACK_URL, json=body)
    assert moved.status_code == 200, moved.get_data(as_text=True)[:500]
    sent = moved.get_json()["response"]
    keys = {key_json: json.loads(key_json) for key_json in sent}
    texts = {(keys[k]["order"], keys[k]["field"]): v["children"] for k, v in sent.items()}
    assert texts == {(older, "status"): "partially_filled", (older, "filled_qty"): "4",
                     (older, "filled_avg_price"): "$50.25"}

    # the order is cancelled: it leaves the open set, and only then is the table drawn again
    set_order(app, ctx, older, status="cancelled")
    third = trader.post(wr.CALLBACK_URL, json=wr.build_body(table, {0: 3, 1: shape}))
    assert third.status_code == 200
    out = third.get_json()["response"]
    assert out[SHAPE]["data"] == [True, [newer]]
    drawn = json_ids(out["trading-orders"]["children"])
    assert [i["index"] for i in drawn if isinstance(i, dict) and i.get("type") == CANCEL] == [newer]
