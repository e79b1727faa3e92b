"""Planner page in the browser: Send plan asks first (the trades in order), then each trade goes through the
order gateway in the planned order and the page lists what happened to each."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.store.models import OrderRow
from tests.auth_helpers import browser_login
from tests.planner_page_fixtures import scroll_click, seeded_app

pytestmark = pytest.mark.slow  # about a minute on a loaded machine


def test_pln003_send_a_plan_with_confirmation(dash_duo, test_settings) -> None:  # type: ignore[no-untyped-def]
    app, ctx = seeded_app(test_settings(engine_mode="none"))
    browser_login(dash_duo, app, role="trader", path="/planner")
    dash_duo.wait_for_contains_text("#planner-summary", "Preset default ·", timeout=30)
    shown = [row.text for row in dash_duo.find_elements("#planner-steps tbody tr")]
    assert shown, "the seeded portfolio's default plan has trades"
    planned = [(cells[1], cells[2], float(cells[3].replace(",", ""))) for cells in (r.split() for r in shown)]

    scroll_click(dash_duo, dash_duo.find_element("#planner-send"))
    dash_duo.wait_for_contains_text("#planner-send-body", f"Send {len(planned)} order(s) in this order", timeout=15)
    with ctx.store.read() as s:
        assert s.scalars(select(OrderRow).where(OrderRow.origin == "planner")).first() is None  # asked, not sent
    dash_duo.find_element("#planner-send-confirm").click()
    dash_duo.wait_for_element("#planner-send-outcomes", timeout=30)
    dash_duo.wait_for_contains_text("#planner-send-result", f"{len(planned)} of {len(planned)} order(s) sent",
                                    timeout=10)
    rows = [r.text for r in dash_duo.find_elements("#planner-send-outcomes tbody tr")]
    assert [tuple(r.split()[:2]) for r in rows] == [(sym, side) for sym, side, _ in planned]
    with ctx.store.read() as s:
        orders = [(o.symbol, o.side, float(o.qty), o.actor)
                  for o in s.scalars(select(OrderRow).where(OrderRow.origin == "planner").order_by(OrderRow.id))]
    assert orders == [(sym, side, qty, "web:trader") for sym, side, qty in planned]
    ctx.store.dispose()
