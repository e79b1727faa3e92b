"""Risk: what the book could lose and why. VaR/CVaR history, exposures by name / group / side, the
correlation heatmap with its largest cluster, beta, stress P&L per scenario and per position, and the
user scenario editor (trader: saving over a saved name and deleting are confirmed in a dialog; the steps are
plain functions in webapp/risk_views.py). Everything is read from what the engine's risk cycle stored."""
from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from components.cards import kpi_card
from components.charts import empty_figure, graph
from components.confirm_modal import confirm_modal
from components.ids import risk as ids
from components.shell import page_header, read_only_note
from engine.auth import principal
from engine.auth.roles import Role, at_least
from engine.portfolio_risk import store_io
from webapp import risk_views as views
from webapp.auth.access import requires
from webapp.cache import cache
from webapp.context import get_context
from webapp.control_actions import web_actor
from webapp.inputs import triggered_by_click

dash.register_page(__name__, path="/risk", name="Risk", order=5.5)

REFRESH_MS = 5000
HISTORY_POINTS = 720


@cache.memoize()
def _stored() -> tuple[dict[str, Any] | None, Any, list[str]]:
    with get_context().store.read() as session:
        return (store_io.latest_report(session), store_io.snapshot_history(session, HISTORY_POINTS),
                [s.name for s in store_io.user_scenarios(session)])


def _editor(trader: bool) -> html.Div:
    if not trader:
        return read_only_note("risk-scenario-readonly", "Scenarios are edited by a trader; you can view them.")
    return html.Div([
        dbc.Row([
            dbc.Col(dbc.Input(id=ids.SCENARIO_NAME, placeholder="scenario name", maxLength=80), md=3),
            dbc.Col(dbc.Textarea(id=ids.SCENARIO_SHOCKS, placeholder="ALFA=-8, growth=-5, INDEX=-3  (percent; "
                                 "symbol, group or INDEX through beta)", maxLength=views.MAX_TEXT, rows=2), md=6),
            dbc.Col(dbc.ButtonGroup([dbc.Button("Save", id=ids.SCENARIO_SAVE, size="sm"),
                                     dbc.Button("Delete", id=ids.SCENARIO_DELETE, size="sm", color="danger",
                                                outline=True)]), md=3),
        ], className="g-2"),
        html.Div(id=ids.SCENARIO_MSG, className="small mt-1"),
        confirm_modal(ids.REPLACE, "Replace scenario?", html.Div(id=ids.REPLACE_BODY), "Replace",
                      confirm_color="warning"),
        confirm_modal(ids.REMOVE, "Delete scenario?", html.Div(id=ids.REMOVE_BODY), "Delete"),
        dcc.Store(id=ids.PENDING, data=None),
    ])


def layout(**_kwargs: object) -> html.Div:
    trader = at_least(principal.current().role, Role.TRADER)
    return html.Div([
        page_header("Risk", "What the book could lose in a day, where its exposure sits, and stress scenarios "
                    "(computed by the engine's risk cycle)"),
        dcc.Interval(id=ids.INTERVAL, interval=REFRESH_MS),
        html.Div(id=ids.NOTE, className="small text-muted mb-2"),
        html.Div(id=ids.BREACHES),
        dbc.Row([
            dbc.Col(kpi_card("VaR 95% (1 day, hist)", ids.VAR95, ids.VAR95_PCT), md=3),
            dbc.Col(kpi_card("CVaR 99% (1 day, hist)", ids.CVAR99, ids.CVAR99_PCT), md=3),
            dbc.Col(kpi_card("Beta to the index", ids.BETA, ids.DOLLAR_BETA), md=3),
            dbc.Col(kpi_card("Worst stress P&L", ids.WORST, ids.WORST_NAME), md=3),
        ], className="g-2 mb-2"),
        graph(ids.HISTORY, empty_figure("waiting for the risk cycle…")),
        dbc.Row([dbc.Col([html.H6("VaR and CVaR"), html.Div(id=ids.VAR_TABLE)], md=6),
                 dbc.Col([html.H6("By side"), html.Div(id=ids.SIDES)], md=6)], className="g-2"),
        dbc.Row([dbc.Col(graph(ids.EXPOSURE, empty_figure("")), md=6),
                 dbc.Col([html.H6("By group"), html.Div(id=ids.GROUPS)], md=6)], className="g-2"),
        graph(ids.CORR, empty_figure("")),
        html.Div(id=ids.CLUSTER, className="small mb-2"),
        html.H6("Stress scenarios"),
        html.Div(id=ids.STRESS),
        html.H6("Stress P&L per position", className="mt-2"),
        html.Div(id=ids.STRESS_POSITIONS, style={"overflowX": "auto"}),
        html.H6("Your scenarios", className="mt-3"),
        html.Div(id=ids.SCENARIO_LIST, className="small text-muted mb-1"),
        _editor(trader),
    ])


@dash.callback(
    Output(ids.NOTE, "children"), Output(ids.BREACHES, "children"),
    Output(ids.VAR95, "children"), Output(ids.VAR95_PCT, "children"),
    Output(ids.CVAR99, "children"), Output(ids.CVAR99_PCT, "children"),
    Output(ids.BETA, "children"), Output(ids.DOLLAR_BETA, "children"),
    Output(ids.WORST, "children"), Output(ids.WORST_NAME, "children"),
    Output(ids.HISTORY, "figure"), Output(ids.VAR_TABLE, "children"), Output(ids.SIDES, "children"),
    Output(ids.EXPOSURE, "figure"), Output(ids.GROUPS, "children"), Output(ids.CORR, "figure"),
    Output(ids.CLUSTER, "children"), Output(ids.STRESS, "children"),
    Output(ids.STRESS_POSITIONS, "children"), Output(ids.SCENARIO_LIST, "children"),
    Input(ids.INTERVAL, "n_intervals"),
)
@requires(Role.VIEWER)
def refresh_risk(_n: int | None) -> tuple[Any, ...]:
    stored, history, names = _stored()
    saved = "saved: " + ", ".join(names) if names else "no saved scenarios"
    if not stored:
        return ("the engine has not computed the book's risk yet",) + (no_update,) * 18 + (saved,)
    rep = stored["report"]
    equity = rep.get("equity")
    var = rep.get("var", {})
    v95 = var.get("historical_95", {}).get("var")
    c99 = var.get("historical_99", {}).get("cvar")
    beta = rep["dollar_beta"] / equity if equity else None
    worst = min(rep.get("scenarios") or [], key=lambda s: s["pnl"], default=None)
    breaches = [dbc.Alert(b["reason"], color="danger", className="py-1 small mb-1") for b in stored.get("breaches", [])]
    ctx = get_context()
    stale = views.stale_warning(stored.get("ts"), ctx.clock.now(), views.stale_after_s(ctx.settings.tick_seconds))
    if stale:
        breaches.insert(0, dbc.Alert(stale, color="warning", className="py-1 small mb-1", id=ids.STALE))
    cluster = rep.get("cluster", {})
    cluster_text = (f"Largest correlated cluster: {', '.join(cluster['symbols'])} — net {views.money(cluster['net'])} "
                    f"{views.pct_of(cluster['net'], equity)}" if cluster.get("symbols") else "no correlated cluster")
    note = (f"computed {views.fmt_ts(stored.get('ts'))} from {rep['n_returns']} returns "
            f"({rep['bars_per_day']:.0f} bars a day). {rep.get('note', '')}")
    return (note, breaches, views.money(v95), views.pct_of(v95, equity), views.money(c99), views.pct_of(c99, equity),
            "–" if beta is None else f"{beta:.2f}", f"dollar beta {views.money(rep['dollar_beta'])}",
            views.money(worst["pnl"]) if worst else "–", views.scenario_label(worst) if worst else "",
            views.history_figure(history), views.var_table(rep), views.sides_table(rep), views.exposure_figure(rep),
            views.groups_table(rep), views.corr_figure(rep), cluster_text, views.stress_table(rep),
            views.stress_positions_table(rep), saved)


def _scenario_outputs(step: views.ScenarioStep) -> tuple[Any, ...]:
    """A step as the editor callback's outputs: message, replace dialog (open, body), delete dialog, pending."""
    if step.changed:
        cache.delete_memoized(_stored)
    if step.message is None:
        message: Any = no_update
    elif step.error:
        message = html.Span(step.message, className="text-danger", id=ids.SCENARIO_ERROR)
    else:
        message = html.Span(step.message, className="text-success")
    replace, remove = step.dialog == "replace", step.dialog == "remove"
    return (message, replace, step.body if replace else no_update, remove, step.body if remove else no_update,
            step.pending)


@dash.callback(
    Output(ids.SCENARIO_MSG, "children"),
    Output(ids.REPLACE_MODAL, "is_open"), Output(ids.REPLACE_BODY, "children"),
    Output(ids.REMOVE_MODAL, "is_open"), Output(ids.REMOVE_BODY, "children"), Output(ids.PENDING, "data"),
    Input(ids.SCENARIO_SAVE, "n_clicks"), Input(ids.SCENARIO_DELETE, "n_clicks"),
    Input(ids.REPLACE_CONFIRM, "n_clicks"), Input(ids.REPLACE_CANCEL, "n_clicks"),
    Input(ids.REMOVE_CONFIRM, "n_clicks"), Input(ids.REMOVE_CANCEL, "n_clicks"),
    State(ids.SCENARIO_NAME, "value"), State(ids.SCENARIO_SHOCKS, "value"), State(ids.PENDING, "data"),
    prevent_initial_call=True,
)
@requires(Role.TRADER)
def edit_scenario(*args: Any) -> Any:
    """Save / Delete ask first when they replace or delete (webapp.risk_views: ask_save, ask_delete); the
    dialogs' Confirm makes the pending change (confirm_change), Cancel drops it (cancel_change)."""
    name, text, pending = args[-3:]
    trigger = dash.ctx.triggered_id
    if not triggered_by_click(dash.ctx.triggered):
        return (no_update,) * 6  # the editor re-rendered, or a forged click count
    store, actor, now = get_context().store, web_actor(), get_context().clock.now()
    if trigger == ids.SCENARIO_SAVE:
        step = views.ask_save(store, now, actor, name, text)
    elif trigger == ids.SCENARIO_DELETE:
        step = views.ask_delete(store, name)
    elif trigger in (ids.REPLACE_CONFIRM, ids.REMOVE_CONFIRM):
        step = views.confirm_change(store, now, actor, "replace" if trigger == ids.REPLACE_CONFIRM else "remove",
                                    pending)
    elif trigger in (ids.REPLACE_CANCEL, ids.REMOVE_CANCEL):
        step = views.cancel_change("replace" if trigger == ids.REPLACE_CANCEL else "remove", pending)
    else:
        return (no_update,) * 6
    return _scenario_outputs(step)
