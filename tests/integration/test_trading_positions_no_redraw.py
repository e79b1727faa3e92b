"""The Trading page's positions card through the real app and HTTP, as the browser's renderer calls it: the first
refresh draws the table with a Close button per position, a refresh with nothing new sends no update (so the
buttons under a trader's pointer are never replaced), and no other callback writes the card."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from engine.store.models import PositionRow
from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.dash_tree import json_ids
from tests.planner_page_fixtures import seeded_app

SHAPE = "trading-positions-shape"


@pytest.fixture()
def seeded(test_settings: Any) -> Any:
    app, ctx = seeded_app(test_settings(engine_mode="none"), held=2)
    yield app, ctx
    ctx.store.dispose()


def test_positions_table_is_drawn_once_then_left_alone(seeded: Any) -> None:
    app, ctx = seeded
    with ctx.store.read() as s:
        held = sorted(s.scalars(select(PositionRow.symbol).where(PositionRow.qty != 0)))
    assert len(held) == 2
    trader = login_client(app, "trader")
    refreshed = wr.first_refresh(trader, "trading-positions.children")
    table, out = refreshed["callback"], refreshed["response"]
    assert out[SHAPE]["data"] == [True, held]
    drawn = json_ids(out["trading-positions"]["children"])
    assert [i["index"] for i in drawn if isinstance(i, dict) and i.get("type") == "trading-close-position"] == held

    again = trader.post(wr.CALLBACK_URL, json=wr.build_body(table, {0: 2, 1: [True, held]}))
    assert again.status_code == 204 or again.get_json()["response"] == {}, again.get_data(as_text=True)[:300]
