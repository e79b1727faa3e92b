"""Send plan (Planner page) through the real order gateway and paper broker, on SQLite and PostgreSQL: the orders
are the plan on screen in its order (sells first), sent once however often Send is pressed, and the trading
state decides what goes out (REDUCING: exits only; HALTED: nothing), the page saying which and why."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.store.models import AuditEvent, OrderRow
from engine.trading import state as ts
from tests.planner_page_fixtures import NOW, seed_portfolio, trader_request


@pytest.fixture()
def page(any_db_url):  # type: ignore[no-untyped-def]
    """Trader "tess" on a portfolio where a built-in preset's plan sells some names and buys others (seed 3, five held)."""
    with trader_request(any_db_url, ManualClock(NOW), lambda ctx: seed_portfolio(ctx, held=5, seed=3)) as (_app, ctx):
        yield ctx


def planner_orders(ctx):  # type: ignore[no-untyped-def]
    with ctx.store.read() as s:
        rows = s.scalars(select(OrderRow).where(OrderRow.origin == "planner").order_by(OrderRow.id))
        return [(o.symbol, o.side, float(o.qty), o.actor) for o in rows]


def shown_plan():  # type: ignore[no-untyped-def]
    """What the page shows for a built-in preset whose plan both sells and buys here: its preview and stamps."""
    from webapp.planner_preview import all_presets, preview

    presets = all_presets()
    seen = {}
    for name in ("aggressive", "default", "conservative"):
        shown = preview(presets[name])
        seen[name] = sides = [s.side for s in shown.plan.steps]
        if "sell" in sides and "buy" in sides:
            return shown
    raise AssertionError(f"no built-in preset both sells and buys on the fixture's portfolio: {seen}")


def test_send_places_the_plan_on_screen_in_order_once(page) -> None:  # type: ignore[no-untyped-def]
    from webapp.planner_callbacks import send_shown_plan
    from webapp.planner_preview import current_portfolio_stamp

    shown = shown_plan()
    expected = [(s.symbol, s.side, s.qty, "web:tess") for s in shown.plan.steps]
    assert [s for _sym, s, _q, _a in expected] == sorted(s for _sym, s, _q, _a in expected)[::-1]  # sells first
    result = str(send_shown_plan(shown.key, shown.portfolio))
    assert f"{len(expected)} of {len(expected)} order(s) sent" in result, result
    assert planner_orders(page) == expected
    # pressed again (a second tab): the portfolio changed (the orders exist), so nothing new is sent
    assert "portfolio changed" in str(send_shown_plan(shown.key, shown.portfolio))
    # even with a fresh stamp, the same plan's orders are the same client orders: "already sent", none added
    again = str(send_shown_plan(shown.key, current_portfolio_stamp()))
    assert again.count("already sent") == len(expected) and planner_orders(page) == expected
    with page.store.read() as s:
        audited = list(s.scalars(select(AuditEvent.actor).where(AuditEvent.action == "order.submit")))
    assert audited == ["web:tess"] * len(expected)


def test_halted_sends_nothing_and_reducing_only_the_exits(page) -> None:  # type: ignore[no-untyped-def]
    from webapp.control_actions import run_control
    from webapp.planner_callbacks import send_shown_plan

    shown = shown_plan()  # previewed while ACTIVE; the state changes before Send is pressed
    run_control("halt", reason="stop")
    result = str(send_shown_plan(shown.key, shown.portfolio))
    assert planner_orders(page) == []
    assert result.count("trading is HALTED: nothing is sent") == len(shown.plan.steps), result
    assert f"0 of {len(shown.plan.steps)} order(s) sent" in result

    with page.store.write() as s:
        ts.change(s, page.clock.now(), ts.TradingState.REDUCING, "test:risk", "daily loss")
    result = str(send_shown_plan(shown.key, shown.portfolio))
    sells = [(s.symbol, s.side, s.qty, "web:tess") for s in shown.plan.steps if s.side == "sell"]
    buys = [s for s in shown.plan.steps if s.side == "buy"]
    assert planner_orders(page) == sells
    assert result.count("trading is REDUCING: only exits are sent") == len(buys), result
    assert f"{len(sells)} of {len(shown.plan.steps)} order(s) sent" in result
