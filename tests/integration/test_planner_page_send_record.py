"""Send plan from the Planner page, on SQLite and PostgreSQL: the plan sent is stored (the Stored plans tab shows it)
with one plan-level audit row naming the preset, its base, the slider positions and the overrides it was planned
with (audit 24, finding 4); and a replayed Send, an old plan's key paired with the current portfolio stamp, sends
nothing, says so instead of "2 of 2 order(s) sent", and leaves the current portfolio's one-send claim to the plan
made on it (finding 6)."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.store.models import AuditEvent, KeyValue, OrderRow, PlannerPlan
from tests.planner_page_fixtures import NOW, seed_portfolio, trader_request

SLIDERS = [0.5, 0.4, 0.5, 0.5, 0.5, 0.5]  # the page's six positions (risk appetite moved: a plan that buys)
OVERRIDE = {"costs.fixed": 2.0}  # one numeric override typed on the page


@pytest.fixture()
def page(any_db_url):  # type: ignore[no-untyped-def]
    """Trader "tess" on a portfolio of three holdings of about 20,000 each (seed 3)."""
    with trader_request(any_db_url, ManualClock(NOW), lambda ctx: seed_portfolio(ctx, held=3, seed=3)) as (_app, ctx):
        yield ctx


def tuned_preview():  # type: ignore[no-untyped-def]
    """The page's preview of default with SLIDERS and OVERRIDE, as the preview callback computes it."""
    from webapp.planner_preview import all_presets, composed_preset, preview

    shown = preview(composed_preset(all_presets(), "default", SLIDERS, None, OVERRIDE))
    assert shown.plan.steps, "the fixture's tuned default plan should trade"
    return shown


def planner_orders(ctx):  # type: ignore[no-untyped-def]
    with ctx.store.read() as s:
        return [(o.symbol, o.side, float(o.qty)) for o in s.scalars(select(OrderRow).where(OrderRow.origin == "planner")
                                                                     .order_by(OrderRow.id))]


def test_a_sent_plan_is_stored_and_audited_once_with_its_tuning(page) -> None:  # type: ignore[no-untyped-def]
    from webapp.planner_callbacks import send_shown_plan
    from webapp.planner_preview import SLIDER_NAMES
    from webapp.planner_recent_plans import recent_outputs

    shown = tuned_preview()
    steps = [(s.symbol, s.side, s.qty) for s in shown.plan.steps]
    result = str(send_shown_plan(shown.key, shown.portfolio))
    assert f"{len(steps)} of {len(steps)} order(s) sent" in result, result
    assert planner_orders(page) == steps
    with page.store.read() as s:
        plans = list(s.scalars(select(PlannerPlan)))
        sends = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "plan.send")))
    assert len(plans) == 1 and plans[0].executed and plans[0].origin == "web"
    assert plans[0].preset == "default (tuned)"
    assert [(x["symbol"], x["side"], x["qty"]) for x in plans[0].steps] == steps
    assert len(plans[0].outcomes) == len(steps)
    assert plans[0].sliders == dict(zip(SLIDER_NAMES, SLIDERS, strict=True))
    assert len(sends) == 1
    event = sends[0]
    assert (event.actor, event.outcome, event.target) == ("web:tess", "ok", shown.key.removeprefix("planner-plan:"))
    assert event.details["preset"] == "default (tuned)" and event.details["base"] == "default"
    assert event.details["sliders"] == dict(zip(SLIDER_NAMES, SLIDERS, strict=True))
    assert event.details["overrides"] == OVERRIDE
    assert event.details["portfolio"] == shown.portfolio
    assert (event.details["steps"], event.details["placed"], event.details["plan_id"]) == (len(steps), len(steps),
                                                                                         plans[0].id)
    table, _stamp = recent_outputs(None, "recent")  # the Stored plans tab
    assert "default (tuned)" in str(table) and "'yes'" in str(table)


def test_a_replayed_send_places_nothing_says_so_and_leaves_the_claim(page) -> None:  # type: ignore[no-untyped-def]
    from engine.planner.send_guard import CLAIM_PREFIX
    from webapp.planner_callbacks import send_shown_plan

    first = tuned_preview()
    n = len(first.plan.steps)
    assert f"{n} of {n} order(s) sent" in str(send_shown_plan(first.key, first.portfolio))
    placed = planner_orders(page)
    from webapp.planner_preview import current_portfolio_stamp

    now = current_portfolio_stamp()
    assert now != first.portfolio
    replay = str(send_shown_plan(first.key, now))  # the old plan's key paired with the current stamp
    assert planner_orders(page) == placed  # nothing new went out
    assert f"0 of {n} order(s) sent" in replay, replay
    assert not re.search(rf"[1-9]\d* of {n} order\(s\) sent", replay), replay
    assert replay.count("already sent") == n
    with page.store.read() as s:
        claim = s.get(KeyValue, CLAIM_PREFIX + now[:40])
        stored = len(list(s.scalars(select(PlannerPlan))))
        refusals = [e.details.get("why") for e in s.scalars(select(AuditEvent)
                                                            .where(AuditEvent.action == "plan.send_refused"))]
    assert claim is None, claim.value  # the current portfolio's one send is still free
    assert stored == 1  # the replay stored no second plan
    assert refusals == ["the plan was made on an earlier portfolio"]
    # a plan made on the current portfolio claims it and is not refused as "portfolio changed"
    from engine.planner import execute
    from webapp.context import get_context
    from webapp.planner_preview import all_presets, preview

    again = preview(all_presets()["aggressive"]).plan
    if again.steps:
        out = execute.send_plan(get_context(), again, actor="web:tess", key="fresh", claim=now)
        assert not any(o.status == "stale" for o in out), out


def test_a_step_the_gateway_had_already_counts_as_not_sent(page) -> None:  # type: ignore[no-untyped-def]
    from engine.planner import execute
    from webapp.context import get_context

    plan = tuned_preview().plan
    ctx = get_context()
    first = execute.send_plan(ctx, plan, actor="web:tess", key="k-same")
    again = execute.send_plan(ctx, plan, actor="web:tess", key="k-same")
    assert all(o.status not in execute.PLACED_NOTHING for o in first)
    assert [o.status for o in again] == ["duplicate"] * len(plan.steps)
    assert all(o.message.startswith("already sent") for o in again)
