"""Planner: presets tuned with 0..1 sliders, and the trade plan each proposes for the current portfolio."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from components import formatting as fmt
from components.shell import page_header, read_only_note
from components.tables import small_table
from engine.auth import principal
from engine.auth.roles import Role, at_least
from engine.planner import service
from engine.planner.presets import KNOB_NAMES, PresetError, PresetKnobs
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.control_actions import web_actor
from webapp.inputs import triggered_by_click

dash.register_page(__name__, path="/planner", name="Planner", order=3)

def _knob_slider(name: str, value: float) -> html.Div:
    return html.Div([
        html.Label(name.replace("_", " "), className="small mb-0"),
        dcc.Slider(id={"type": "planner-knob", "name": name}, min=0, max=1, step=0.05, value=value,
                   marks={0: "0", 0.5: "0.5", 1: "1"}, tooltip={"placement": "bottom"}),
    ], className="mb-2")


def layout(**_kwargs: object) -> html.Div:
    with get_context().store.read() as session:
        presets = service.all_presets(session)
        active = service.active_preset(session)
    trader = at_least(principal.current().role, Role.TRADER)
    return html.Div([
        page_header("Planner", f"Active preset: {active.name}"),
        html.Div() if trader else read_only_note(
            "planner-read-only", "Read-only for your role: saving and activating presets need a trader."),
        dcc.Interval(id="planner-interval", interval=5000),
        dbc.Row([
            dbc.Col([
                dbc.Select(id="planner-preset", options=[{"label": n, "value": n} for n in presets], value=active.name),
                html.Div(id="planner-preset-description", className="small text-muted my-1"),
                html.Div([_knob_slider(k, getattr(active, k)) for k in KNOB_NAMES], id="planner-knobs"),
                dbc.Input(id="planner-save-name", placeholder="name for a user preset", size="sm", className="mb-1"),
                dbc.ButtonGroup([
                    dbc.Button("Save as user preset", id="planner-save", size="sm", color="secondary"),
                    dbc.Button("Make active", id="planner-activate", size="sm", color="primary"),
                ]),
                dcc.ConfirmDialog(id="planner-activate-confirm",
                                  message="Make these knobs the engine's active preset? The next planning cycle uses them."),
                html.Div(id="planner-message", className="small mt-2"),
            ], md=4),
            dbc.Col([
                html.H6("Proposed plan for the current portfolio"),
                html.Div(id="planner-limits", className="small text-muted mb-1"),
                html.Div(id="planner-plan"),
                html.H6("Every preset on the current portfolio", className="mt-3"),
                html.Div(id="planner-compare"),
            ], md=8),
        ]),
    ])


@dash.callback(
    Output({"type": "planner-knob", "name": ALL}, "value"), Output("planner-preset-description", "children"),
    Input("planner-preset", "value"),
)
@requires(Role.VIEWER)
def load_preset(name: str):  # type: ignore[no-untyped-def]
    with get_context().store.read() as session:
        preset = service.all_presets(session).get(name)
    if preset is None:
        return [no_update] * len(KNOB_NAMES), f"unknown preset {name!r}"
    return [getattr(preset, k) for k in KNOB_NAMES], preset.description


def _knobs_from(name: object, values: object) -> PresetKnobs:
    """Knobs from the sliders, refused unless there is one finite number in 0..1 per knob and a short name."""
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise PresetError("a preset needs a name of 1 to 64 characters")
    if not isinstance(values, list) or len(values) != len(KNOB_NAMES):
        raise PresetError(f"expected {len(KNOB_NAMES)} knob values ({', '.join(KNOB_NAMES)}), got "
                          f"{len(values) if isinstance(values, list) else type(values).__name__}")
    for knob, value in zip(KNOB_NAMES, values, strict=True):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
            raise PresetError(f"{knob} must be a number from 0 to 1, got {str(value)[:40]!r}")
    return PresetKnobs(name=name.strip(), description="tuned in the Planner page",
                       **dict(zip(KNOB_NAMES, (float(v) for v in values), strict=True)))


@dash.callback(
    Output("planner-plan", "children"), Output("planner-limits", "children"), Output("planner-compare", "children"),
    Input({"type": "planner-knob", "name": ALL}, "value"), Input("planner-interval", "n_intervals"),
    State("planner-preset", "value"),
)
@requires(Role.VIEWER)
def preview_plan(values: list[float], _n: int | None, name: str):  # type: ignore[no-untyped-def]
    try:
        knobs = _knobs_from(name or "custom", values)
    except PresetError as exc:
        return html.Div(str(exc), className="text-danger"), "", no_update
    with get_context().store.read() as session:
        trades = service.plan_for_portfolio(session, knobs)
        compare = [(n, p.limits()) for n, p in service.all_presets(session).items()]
        compare_rows = [(n, f"{lim.gross_exposure:.0%}", f"{lim.max_weight:.0%}",
                         len(service.plan_for_portfolio(session, p)))
                        for (n, lim), p in zip(compare, service.all_presets(session).values(), strict=True)]
    limits = knobs.limits()
    summary = (f"gross exposure {limits.gross_exposure:.0%} of equity · max {limits.max_weight:.0%} per name · "
               f"EMA {limits.fast_window}/{limits.slow_window} · rebalance above {limits.rebalance_threshold:.1%} · "
               f"{'long/short' if limits.allow_short else 'long only'}")
    rows = [(t.symbol, f"{t.signal:+.2f}", f"{t.target_weight:+.1%}", fmt.number(t.current_qty, 0),
             fmt.number(t.target_qty, 0), fmt.number(t.order_qty, 0), fmt.number(t.price)) for t in trades]
    plan = small_table(["Symbol", "Signal", "Target weight", "Current", "Target", "Order", "Price"], rows,
                       "no trades: the portfolio already matches this preset (or there is no history yet)")
    compare_table = small_table(["Preset", "Gross exposure", "Max per name", "Trades proposed"], compare_rows, "")
    return plan, summary, compare_table


@dash.callback(
    Output("planner-activate-confirm", "displayed"), Input("planner-activate", "n_clicks"), prevent_initial_call=True,
)
@requires(Role.TRADER)
def ask_activate(_clicks: int):  # type: ignore[no-untyped-def]
    return True


@dash.callback(
    Output("planner-message", "children"),
    Input("planner-activate-confirm", "submit_n_clicks"), Input("planner-save", "n_clicks"),
    State({"type": "planner-knob", "name": ALL}, "value"), State("planner-preset", "value"),
    State("planner-save-name", "value"),
    prevent_initial_call=True,
)
@requires(Role.TRADER)
def store_preset(_confirm: int | None, _save: int | None, values: list[float], name: str, save_name: str | None):  # type: ignore[no-untyped-def]
    if not triggered_by_click(ctx.triggered):
        return no_update
    context = get_context()
    try:
        if ctx.triggered_id == "planner-save":
            knobs = _knobs_from(save_name, values)
            service.save_user_preset(context.store, context.clock.now(), web_actor(), knobs)
            return html.Span(f"saved user preset {knobs.name!r}; reload the page to pick it", className="text-success")
        knobs = _knobs_from(name, values)
        service.set_active_preset(context.store, context.clock.now(), web_actor(), knobs)
        return html.Span(f"preset {knobs.name!r} is now active", className="text-success")
    except PresetError as exc:
        return html.Span(str(exc), className="text-danger")
