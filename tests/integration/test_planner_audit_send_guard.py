"""Send plan's guards (audit 6), on SQLite and PostgreSQL through the real gateway and paper broker: two tabs'
plans made on one portfolio race to Send and exactly one goes out (a claim per portfolio stamp); a working TWAP
parent is part of the portfolio stamp; a plan the market moved past is refused (one it did not change is sent);
the confirm dialog's plan is the one sent; a tuned preset slices like its base; a HALT refusal is audited."""
from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.store.models import AccountSnapshot, AuditEvent, BarRow, OrderRow, ParentOrder
from tests.planner_page_fixtures import NOW, seed_portfolio, trader_request


@pytest.fixture()
def page(any_db_url):  # type: ignore[no-untyped-def]
    """(app, ctx): trader "tess" on a portfolio whose built-in presets' plans trade (seed 3, five held)."""
    with trader_request(any_db_url, ManualClock(NOW), lambda ctx: seed_portfolio(ctx, held=5, seed=3)) as page:
        yield page


def planner_orders(ctx):  # type: ignore[no-untyped-def]
    """What Send placed: planner orders and sliced parents (conservative works 50,000 or more as a TWAP parent)."""
    with ctx.store.read() as s:
        rows = [*s.scalars(select(OrderRow).where(OrderRow.origin == "planner")),
                *s.scalars(select(ParentOrder).where(ParentOrder.origin == "planner"))]
        return sorted((o.symbol, o.side, float(o.qty)) for o in rows)


def two_trading_previews():  # type: ignore[no-untyped-def]
    """Two previews with trades, different keys, the same portfolio stamp (two tabs on different presets)."""
    from webapp.planner_preview import all_presets, preview

    shown = [p for p in (preview(x) for x in all_presets().values()) if p.plan.steps]
    assert len(shown) >= 2 and shown[0].key != shown[1].key and shown[0].portfolio == shown[1].portfolio
    return shown[0], shown[1]


def test_two_tabs_sending_at_once_send_exactly_one_plan(page) -> None:  # type: ignore[no-untyped-def]
    from engine.auth import principal
    from webapp.planner_callbacks import send_shown_plan

    app, ctx = page
    a, b = two_trading_previews()
    gate, results = threading.Barrier(2, timeout=30), {}

    def press(name, shown):  # type: ignore[no-untyped-def]
        with app.server.test_request_context("/"), principal.acting_as(principal.Principal("tess", "trader", "x")):
            gate.wait()
            results[name] = str(send_shown_plan(shown.key, shown.portfolio))

    threads = [threading.Thread(target=press, args=(n, s), daemon=True) for n, s in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads) and len(results) == 2, results
    sent = [n for n, r in results.items() if "order(s) sent" in r]
    refused = [n for n, r in results.items() if "portfolio changed since this plan was" in r]
    assert len(sent) == 1 and len(refused) == 1, results
    winner = a if sent == ["a"] else b
    assert planner_orders(ctx) == sorted((s.symbol, s.side, s.qty) for s in winner.plan.steps)


def test_a_working_twap_parent_changes_the_portfolio_stamp(page) -> None:  # type: ignore[no-untyped-def]
    from webapp.planner_preview import current_portfolio_stamp

    _app, ctx = page
    before = current_portfolio_stamp()
    with ctx.store.write() as s:
        s.add(ParentOrder(idempotency_key="audit6-parent", symbol="S00", side="buy", qty=D(600), mode="twap",
                          status="active", origin="planner", actor="web:tess", reason="", start_at=NOW,
                          end_at=NOW + timedelta(minutes=30), participation=None, limit_offset_bps=None, schedule=[],
                          created_at=NOW, updated_at=NOW))
    assert current_portfolio_stamp() != before  # no child order yet: only the parent says a buy is under way


def test_a_plan_the_market_moved_past_is_refused(page) -> None:  # type: ignore[no-untyped-def]
    from webapp.planner_callbacks import send_shown_plan

    _app, ctx = page
    shown, _other = two_trading_previews()
    assert any(s.side == "buy" for s in shown.plan.steps), shown.plan.steps
    with ctx.store.write() as s:  # the account now holds 1 of cash: no buy is affordable, the plan is another
        s.add(AccountSnapshot(ts=NOW, broker="paper", cash=D(1), equity=D(1), buying_power=D(1), gross_exposure=D(0)))
    result = str(send_shown_plan(shown.key, shown.portfolio))
    assert "Not sent: the market changed since this plan was made" in result, result
    assert planner_orders(ctx) == []


def test_a_plan_the_market_left_unchanged_is_sent(page) -> None:  # type: ignore[no-untyped-def]
    from webapp.planner_callbacks import send_shown_plan

    _app, ctx = page
    shown, _other = two_trading_previews()
    with ctx.store.write() as s:  # a new bar (the market stamp moves) of a symbol the planner does not read
        s.add(BarRow(symbol="ZZZ", ts=NOW, open=1.0, high=1.0, low=1.0, close=1.0, volume=1.0))
    result = str(send_shown_plan(shown.key, shown.portfolio))
    assert f"{len(shown.plan.steps)} of {len(shown.plan.steps)} order(s) sent" in result, result


def test_the_dialogs_plan_is_the_plan_sent(page) -> None:  # type: ignore[no-untyped-def]
    from webapp import planner_ids as ids

    app, _ctx = page
    app.server.test_client().get("/planner")  # the page's callbacks are registered on the app's first request
    confirm = [v for k, v in app.callback_map.items() if f"{ids.SEND_RESULT}.children" in k]
    ask = [v for k, v in app.callback_map.items() if f"{ids.SEND_BODY}.children" in k]
    assert len(confirm) == 1 and len(ask) == 1
    states = [s["id"] for s in confirm[0]["state"]]
    assert ids.PREVIEW_KEY not in states  # never the preview key, which the 5 s refresh may have moved on
    # Send reads one store, the one the dialog writes when it opens (with the key whose plan it shows)
    assert len(states) == 1 and f"{states[0]}.data" in next(k for k in app.callback_map if f"{ids.SEND_BODY}." in k)


def test_halted_send_is_audited_with_the_user(page) -> None:  # type: ignore[no-untyped-def]
    from webapp.control_actions import run_control
    from webapp.planner_callbacks import send_shown_plan

    _app, ctx = page
    shown, _other = two_trading_previews()
    run_control("halt", reason="stop")
    assert "trading is HALTED: nothing is sent" in str(send_shown_plan(shown.key, shown.portfolio))
    with ctx.store.read() as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "order.blocked").order_by(AuditEvent.id)))
    assert [(r.actor, r.target, r.outcome, r.role) for r in rows] == \
        [("web:tess", st.symbol, "blocked", "trader") for st in shown.plan.steps]
    assert all(r.details["why"] == "trading is HALTED: nothing is sent" for r in rows)


def test_a_page_tuned_preset_slices_like_its_base(any_db_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from engine.planner import synthetic
    from engine.planner.api import build_planner, load_preset
    from engine.planner.execute import send_plan
    from engine.planner.types import PlanStep
    from tests.integration.test_execution_db import LIMITS, build
    from webapp.planner_preview import SLIDER_NAMES, composed_preset

    base = load_preset("conservative")
    sliders = [base.sliders.get(n, 0.5) for n in SLIDER_NAMES]
    sliders[0] = 0.3 if sliders[0] != 0.3 else 0.35  # one slider moved: the page names it "conservative (tuned)"
    tuned = composed_preset({"conservative": base}, "conservative", sliders, None)
    assert tuned.name == "conservative (tuned)"
    made = build_planner(tuned).plan(synthetic.portfolio(positions=3, symbols=6, cash=100_000.0, seed=3))
    # buy 600 AAA at 100 = 60,000 >= conservative's min_notional 50,000 (config/execution.toml): a TWAP parent
    shown = replace(made, steps=[PlanStep("AAA", "buy", 600.0, 100.0, 60_000.0, "trend", "direct", "test", 0.0)])
    ctx = build(any_db_url, tmp_path)
    try:
        out = send_plan(ctx, shown, "web:tess", key="tuned-1", limits=LIMITS)
        assert [o.status for o in out] == ["sliced"], out
        with ctx.store.read() as s:
            assert [(p.qty, p.mode) for p in s.scalars(select(ParentOrder))] == [(D(600), "twap")]
    finally:
        ctx.store.dispose()
