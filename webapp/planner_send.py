"""Planner page, Send plan: send the plan the confirm dialog showed, then store it and audit it as one plan-level row.

Why its own module: the Send path has three refusals besides the gateway's own (the plan is gone, the portfolio
changed, the market moved past it) and a replay rule. A request pairing an old plan's key with the current portfolio
stamp (a replayed or crafted POST; the dialog always pairs them correctly) is never sent and never takes the current
portfolio's one-send claim (engine/planner/send_guard.py): the trader's fresh plan made on that portfolio must still
go out. The result counts what was placed: an order the gateway already had ("already sent") is not counted as sent.
"""
from __future__ import annotations

from typing import Any

from dash import html

from engine.params.versions import active_version_id
from engine.planner import execute, plan_store, send_guard
from engine.planner.api import PlanResult
from engine.planner.execute import SendOutcome
from engine.trading.risk_limits import active_limits
from webapp import planner_preview as pv
from webapp import trading_queries
from webapp.context import get_context
from webapp.control_actions import web_actor
from webapp.planner_views import outcomes_view

NOT_SENT = ("rejected", *execute.PLACED_NOTHING)
NEVER_PLACED = ("rejected", "blocked", "not_sent", "stale")  # a duplicate step had been placed by an earlier Send
CHANGED = ("the portfolio changed since this plan was computed (a trade or an order); review the refreshed preview "
           "and send again")


def _refused(why: str) -> html.Div:
    return html.Div(f"Not sent: {why}.", className="text-danger")


def _result(plan: PlanResult, outcomes: list[SendOutcome], note: str = "") -> html.Div:
    sent = sum(1 for o in outcomes if o.status not in NOT_SENT)
    again = sum(1 for o in outcomes if o.status == execute.DUPLICATE)
    tail = f"; {again} had gone out before, nothing new for them" if again else ""
    return html.Div([html.Div(f"Plan {plan.label} ({plan.preset}): {sent} of {len(outcomes)} order(s) sent{tail}."
                              + (f" {note}" if note else ""), className="small fw-semibold"),
                     outcomes_view(outcomes)])


def _replayed(plan: PlanResult, key: str, made: pv.MadeOn, stamp: str) -> html.Div:
    """An old plan sent for the current portfolio: send nothing, claim nothing; say what its own Send placed."""
    ctx = get_context()
    send_guard.refuse_replay(ctx, key.removeprefix(pv.KEY_PREFIX), web_actor(), made.portfolio, stamp)
    with ctx.store.read() as session:
        before = plan_store.last_user_send(session, key.removeprefix(pv.KEY_PREFIX))
    statuses = [o.get("status") for o in before.get("outcomes", []) if isinstance(o, dict)] if before else []
    if len(statuses) != len(plan.steps) or all(s in NEVER_PLACED for s in statuses):
        return _refused(CHANGED)
    outcomes = [SendOutcome(s.symbol, s.side, s.qty, execute.DUPLICATE, "already sent") if status not in NEVER_PLACED
                else SendOutcome(s.symbol, s.side, s.qty, "stale", send_guard.STALE)
                for s, status in zip(plan.steps, statuses, strict=True)]
    return _result(plan, outcomes, "It was made on an earlier portfolio and sent then; review the refreshed "
                                   "preview to send a new plan.")


def _record(plan: PlanResult, made: pv.MadeOn, key: str, stamp: str, outcomes: list[SendOutcome]) -> None:
    """Store the plan sent and its one plan-level audit row (preset, base, sliders, overrides, the stamp)."""
    ctx = get_context()
    with ctx.store.write() as session:
        send = plan_store.UserSend(key=key, base=made.preset.base or plan.preset_base, sliders=made.preset.sliders,
                                   overrides=pv.tuned_overrides(made.preset), portfolio=stamp,
                                   param_version_id=active_version_id(session))
        plan_store.record_user_send(session, ctx.clock.now(), web_actor(), plan, send, outcomes)


def send_shown_plan(key: object, portfolio: object) -> Any:
    """Send the plan shown under `key` unless it is stale: the portfolio changed since (a trade, an order, another
    tab's Send of a plan made on the same portfolio), the plan was made on another portfolio than `portfolio`, or
    the market moved past it; then say so and send nothing."""
    plan, made = pv.cached_plan(key), pv.made_on(key)
    if plan is None or made is None or not isinstance(key, str):
        return _refused("the plan on screen is no longer available; review the new preview and send again")
    if not isinstance(portfolio, str) or portfolio != pv.current_portfolio_stamp():
        return _refused(CHANGED)
    if made.portfolio != portfolio:
        return _replayed(plan, key, made, portfolio)
    if (moved := pv.market_refusal(key, plan)) is not None:
        return _refused(moved)
    # the key names the plan on screen: sending it twice (a double click) sends each order once; the claim on the
    # portfolio stamp lets one plan per portfolio go out (two tabs' plans made on it: the first Send wins)
    plan_key = key.removeprefix(pv.KEY_PREFIX)
    outcomes = execute.send_plan(get_context(), plan, actor=web_actor(), origin="planner", key=plan_key,
                                 limits=active_limits(get_context().store), claim=portfolio)
    trading_queries.forget()
    if outcomes and all(o.status == "stale" for o in outcomes):
        return _refused(outcomes[0].message.removeprefix("not sent: "))
    if not all(o.status == execute.DUPLICATE for o in outcomes):  # a double click's second send adds no new plan
        _record(plan, made, plan_key, portfolio, outcomes)
    return _result(plan, outcomes)
