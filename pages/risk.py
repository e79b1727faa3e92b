"""Risk: what the book could lose and why. VaR/CVaR history, exposures by name / group / side, the
correlation heatmap with its largest cluster, beta, stress P&L per scenario and per position, and the
user scenario editor (trader). Everything is read from what the engine's risk cycle stored."""
from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from components.cards import kpi_card
from components.charts import empty_figure, graph
from components.shell import page_header, read_only_note
from engine.auth import principal
from engine.auth.roles import Role, at_least
from engine.portfolio_risk import store_io
from webapp import risk_views as views
from webapp.auth.access import requires
from webapp.cache import cache
from webapp.context import get_context
from webapp.control_actions import web_actor

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
            dbc.Col(dbc.Input(id="risk-scenario-name", placeholder="scenario name", maxLength=80), md=3),
            dbc.Col(dbc.Textarea(id="risk-scenario-shocks", placeholder="ALFA=-8, growth=-5, INDEX=-3  (percent; "
                                 "symbol, group or INDEX through beta)", maxLength=views.MAX_TEXT, rows=2), md=6),
            dbc.Col(dbc.ButtonGroup([dbc.Button("Save", id="risk-scenario-save", size="sm"),
                                     dbc.Button("Delete", id="risk-scenario-delete", size="sm", color="danger",
                                                outline=True)]), md=3),
        ], className="g-2"),
        html.Div(id="risk-scenario-msg", className="small mt-1"),
    ])


def layout(**_kwargs: object) -> html.Div:
    trader = at_least(principal.current().role, Role.TRADER)
    return html.Div([
        page_header("Risk", "What the book could lose in a day, where its exposure sits, and stress scenarios "
                    "(computed by the engine's risk cycle)"),
        dcc.Interval(id="risk-interval", interval=REFRESH_MS),
        html.Div(id="risk-note", className="small text-muted mb-2"),
        html.Div(id="risk-breaches"),
        dbc.Row([
            dbc.Col(kpi_card("VaR 95% (1 day, hist)", "risk-var95", "risk-var95-pct"), md=3),
            dbc.Col(kpi_card("CVaR 99% (1 day, hist)", "risk-cvar99", "risk-cvar99-pct"), md=3),
            dbc.Col(kpi_card("Beta to the index", "risk-beta", "risk-dollar-beta"), md=3),
            dbc.Col(kpi_card("Worst stress P&L", "risk-worst", "risk-worst-name"), md=3),
        ], className="g-2 mb-2"),
        graph("risk-history", empty_figure("waiting for the risk cycle…")),
        dbc.Row([dbc.Col([html.H6("VaR and CVaR"), html.Div(id="risk-var-table")], md=6),
                 dbc.Col([html.H6("By side"), html.Div(id="risk-sides")], md=6)], className="g-2"),
        dbc.Row([dbc.Col(graph("risk-exposure", empty_figure("")), md=6),
                 dbc.Col([html.H6("By group"), html.Div(id="risk-groups")], md=6)], className="g-2"),
        graph("risk-corr", empty_figure("")),
        html.Div(id="risk-cluster", className="small mb-2"),
        html.H6("Stress scenarios"),
        html.Div(id="risk-stress"),
        html.H6("Stress P&L per position", className="mt-2"),
        html.Div(id="risk-stress-positions", style={"overflowX": "auto"}),
        html.H6("Your scenarios", className="mt-3"),
        html.Div(id="risk-scenario-list", className="small text-muted mb-1"),
        _editor(trader),
    ])


@dash.callback(
    Output("risk-note", "children"), Output("risk-breaches", "children"),
    Output("risk-var95", "children"), Output("risk-var95-pct", "children"),
    Output("risk-cvar99", "children"), Output("risk-cvar99-pct", "children"),
    Output("risk-beta", "children"), Output("risk-dollar-beta", "children"),
    Output("risk-worst", "children"), Output("risk-worst-name", "children"),
    Output("risk-history", "figure"), Output("risk-var-table", "children"), Output("risk-sides", "children"),
    Output("risk-exposure", "figure"), Output("risk-groups", "children"), Output("risk-corr", "figure"),
    Output("risk-cluster", "children"), Output("risk-stress", "children"),
    Output("risk-stress-positions", "children"), Output("risk-scenario-list", "children"),
    Input("risk-interval", "n_intervals"),
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
    cluster = rep.get("cluster", {})
    cluster_text = (f"Largest correlated cluster: {', '.join(cluster['symbols'])} — net {views.money(cluster['net'])} "
                    f"{views.pct_of(cluster['net'], equity)}" if cluster.get("symbols") else "no correlated cluster")
    note = (f"computed {views.fmt_ts(stored.get('ts'))} from {rep['n_returns']} returns "
            f"({rep['bars_per_day']:.0f} bars a day). {rep.get('note', '')}")
    return (note, breaches, views.money(v95), views.pct_of(v95, equity), views.money(c99), views.pct_of(c99, equity),
            "–" if beta is None else f"{beta:.2f}", f"dollar beta {views.money(rep['dollar_beta'])}",
            views.money(worst["pnl"]) if worst else "–", worst["name"] if worst else "",
            views.history_figure(history), views.var_table(rep), views.sides_table(rep), views.exposure_figure(rep),
            views.groups_table(rep), views.corr_figure(rep), cluster_text, views.stress_table(rep),
            views.stress_positions_table(rep), saved)


@dash.callback(
    Output("risk-scenario-msg", "children"),
    Input("risk-scenario-save", "n_clicks"), Input("risk-scenario-delete", "n_clicks"),
    State("risk-scenario-name", "value"), State("risk-scenario-shocks", "value"),
    prevent_initial_call=True,
)
@requires(Role.TRADER)
def edit_scenario(_save: int | None, _delete: int | None, name: str | None, text: str | None) -> Any:
    ctx = get_context()
    actor, now = web_actor(), ctx.clock.now()
    try:
        if dash.ctx.triggered_id == "risk-scenario-delete":
            with ctx.store.write() as session:
                gone = store_io.delete_user_scenario(session, now, actor, (name or "").strip())
            message = f"deleted {name!r}" if gone else f"no scenario named {name!r}"
        else:
            spec = views.parse_shocks(name or "", text or "")
            with ctx.store.write() as session:
                store_io.save_user_scenario(session, now, actor, spec)
            message = f"saved {spec.name!r} ({len(spec.shocks)} shocks); the risk cycle applies it within seconds"
    except (views.ShockTextError, store_io.ScenarioError) as exc:
        return html.Span(str(exc), className="text-danger", id="risk-scenario-error")
    cache.delete_memoized(_stored)
    return html.Span(message, className="text-success")
