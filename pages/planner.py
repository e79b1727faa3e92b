"""Planner: pick a preset, tune its six sliders, module switches and numeric overrides, see the plan it makes for
the current portfolio (live, recomputed only when an input changed), compare two presets, edit the regime → preset
table, keep user presets as versions, and send a plan through the order gateway.

The layout lives here, its component ids in webapp/planner_ids.py; the callbacks in webapp/planner_callbacks.py
(preview, send; the send itself: webapp/planner_send.py), webapp/planner_preset_callbacks.py (save, rename, delete
a user preset), webapp/planner_preset_versions.py (a user preset's versions, diff, restore), webapp/planner_pickers.py
(the other preset pickers follow a save, rename or delete), webapp/planner_regime_table.py (the regime → preset
table, and the "In force now" line and uncertain-regime warning it keeps current), webapp/planner_recent_plans.py
(stored plans) and, with its own layout, webapp/planner_overrides_panel.py (the overrides editor)."""
from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from components.confirm_modal import confirm_modal
from components.shell import read_only_note
from engine.auth import principal
from engine.auth.roles import Role, at_least
from engine.params.versions import active_params
from engine.planner import api, preset_store
from webapp import (
    planner_callbacks,
    planner_overrides_panel,
    planner_pickers,
    planner_preset_callbacks,
    planner_preset_versions,
    planner_recent_plans,
    planner_regime_table,
)
from webapp import planner_ids as ids
from webapp import planner_preview as pv
from webapp.context import get_context
from webapp.planner_views import preset_options

dash.register_page(__name__, path="/planner", name="Planner", order=3)
planner_callbacks.register_callbacks()  # preview, compare, send
planner_preset_callbacks.register_callbacks()  # save, rename, delete a user preset
planner_preset_versions.register_callbacks()  # a user preset's versions, diff, restore
planner_pickers.register_callbacks()  # compare and regime pickers follow a save, rename or delete
planner_regime_table.register_callbacks()  # the regime → preset table
planner_recent_plans.register_callbacks()  # stored plans
planner_overrides_panel.register_callbacks()  # the overrides editor

REFRESH_MS = 5000  # how often the page asks whether an input changed (a cheap stamp; planning only on change)


def slider_block(spec: Any, value: float) -> html.Div:
    """One 0..1 slider with what it means and the technical parameters it moves. The number box beside it is
    ours, not the slider's built-in one (allow_direct_input=False): the built-in box clamps a typed 1.7 to 1 in the
    browser without a word, ours sends what was typed and webapp/planner_callbacks.slider_box_outputs says so."""
    return html.Div([
        html.Label(spec.label, className="small fw-semibold mb-0", title=spec.help),
        dbc.Row([
            dbc.Col(dcc.Slider(id={"type": ids.SLIDER, "name": spec.name}, min=0, max=1, step=0.05, value=value,
                               marks={0: "0", 0.5: "0.5", 1: "1"}, tooltip={"placement": "bottom"},
                               updatemode="mouseup", allow_direct_input=False), width=9),
            dbc.Col(dbc.Input(id=ids.slider_box(spec.name), type="number", value=value, debounce=True, size="sm",
                              step="any", placeholder="0..1"), width=3),
        ], className="g-2 align-items-center"),
        html.Div(spec.help, className="small text-muted"),
        html.Div("moves: " + ", ".join(spec.moves), className="small text-secondary fst-italic",
                 id={"type": ids.SLIDER_MOVES, "name": spec.name}),
    ], className="mb-2")


def switch_keys(preset: api.PlannerPreset) -> list[str]:
    """The preset's on/off parameters (module switches and the like): shown as switches, never as sliders."""
    return [k for k, v in preset.to_flat().items() if isinstance(v, bool)]


def switches_block(preset: api.PlannerPreset) -> dbc.Accordion:
    groups: dict[str, list[Any]] = {}
    for key in switch_keys(preset):
        stage, _, rest = key.partition(".")
        groups.setdefault(stage, []).append(dbc.Switch(
            id={"type": ids.SWITCH, "name": key}, label=rest.removesuffix(".enabled").replace("_", " "),
            value=bool(preset.to_flat()[key]), className="small mb-0"))
    items = [dbc.AccordionItem(html.Div(children), title=f"{stage} on/off") for stage, children in groups.items()]
    return dbc.Accordion(items, start_collapsed=True, always_open=True, className="mb-2", id=ids.SWITCHES)


def _controls(presets: dict[str, api.PlannerPreset], active: api.PlannerPreset, trader: bool) -> html.Div:
    return html.Div([
        html.Label("Preset", className="small fw-semibold"),
        dcc.Dropdown(id=ids.PRESET, options=preset_options(list(presets)), value=active.name, clearable=False,
                     searchable=False),
        html.Div(active.description, id=ids.PRESET_DESCRIPTION, className="small text-muted my-1"),
        html.Div(api.TURNOVER_ANCHOR_EXPLANATION, className="small text-secondary mb-2"),
        html.Div([slider_block(s, float(active.sliders.get(s.name, 0.5))) for s in api.SLIDERS], id=ids.SLIDERS),
        html.Div(id=ids.SLIDER_MESSAGE, className="small text-warning mb-1"),
        switches_block(active),
        planner_overrides_panel.overrides_block(active, pv.stored_overrides(active.name)),
    ])


def _send_bar(trader: bool) -> html.Div:
    """Send plan: a confirm dialog first; each trade then goes through the order gateway in the planned order."""
    return html.Div([
        html.Div([
            dbc.Button("Send plan", id=ids.SEND, color="primary", size="sm", n_clicks=0, disabled=not trader,
                       className="me-2"),
            html.Span("Each trade goes through the order gateway in the planned order; risk checks apply.",
                      className="small text-muted"),
        ], hidden=not trader, className="mb-1"),
        html.Div(id=ids.SEND_RESULT, className="mb-2"),
    ])


def _compare_tab(presets: dict[str, api.PlannerPreset]) -> html.Div:
    names = list(presets)
    second = "aggressive" if "aggressive" in presets else names[-1]
    first = "conservative" if "conservative" in presets else names[0]
    return html.Div([
        dbc.Row([
            dbc.Col(dcc.Dropdown(id=ids.COMPARE_A, options=preset_options(names), value=first, clearable=False,
                                 searchable=False, placeholder="a preset"), md=6),
            dbc.Col(dcc.Dropdown(id=ids.COMPARE_B, options=preset_options(names), value=second,
                                 clearable=False, searchable=False, placeholder="a preset"), md=6),
        ], className="mb-2"),
        html.Div(id=ids.COMPARE_NOTE, className="mb-1"),
        html.Div(id=ids.COMPARE),
        dcc.Store(id=ids.COMPARE_KEY),
    ], className="pt-2")


def _regime_tab(table: dict[str, str], presets: dict[str, api.PlannerPreset], trader: bool) -> html.Div:
    rows = [html.Tr([html.Td(regime), html.Td(dcc.Dropdown(
        id={"type": ids.REGIME, "name": regime}, options=preset_options(list(presets)), value=preset,
        clearable=False, searchable=False, disabled=not trader))]) for regime, preset in sorted(table.items())]
    return html.Div([
        html.Div([
            html.Span("Which preset the engine plans with in each regime.", className="small text-muted me-2"),
            html.Span(dbc.Button("Save table", id=ids.REGIME_SAVE, size="sm", color="secondary", n_clicks=0,
                                 disabled=not trader), hidden=not trader),
        ], className="my-1"),
        html.Div(id=ids.REGIME_MESSAGE, className="small mb-1"),
        html.Div(id=ids.REGIME_NOTE, className="mb-1"),
        dbc.Table([html.Thead(html.Tr([html.Th("Regime"), html.Th("Preset")])), html.Tbody(rows)], size="sm",
                  id=ids.REGIME_TABLE),
    ], className="pt-2")


def _user_presets_tab(presets: dict[str, api.PlannerPreset], trader: bool) -> html.Div:
    user = [n for n in presets if n not in api.BUILT_IN_PRESETS]
    return html.Div([
        dbc.InputGroup([
            dbc.Input(id=ids.SAVE_NAME, placeholder="user preset name", maxLength=64, size="sm"),
            dbc.Button("Save as new version", id=ids.SAVE, size="sm", color="secondary", n_clicks=0),
        ], size="sm", className="my-2") if trader else html.Div(),
        html.Div(id=ids.SAVE_MESSAGE, className="small mb-2"),
        dcc.Dropdown(id=ids.VERSIONS_NAME, options=[{"label": n, "value": n} for n in user],
                     value=user[0] if user else None, placeholder="a user preset", clearable=False, searchable=False),
        html.Div(id=ids.VERSIONS, className="my-2"),
        dbc.Row([
            dbc.Col(dcc.Dropdown(id=ids.DIFF_A, placeholder="version", clearable=False), md=3),
            dbc.Col(dcc.Dropdown(id=ids.DIFF_B, placeholder="version", clearable=False), md=3),
            dbc.Col(html.Div(dbc.Button("Restore version A", id=ids.RESTORE, size="sm", color="warning",
                                        n_clicks=0, disabled=not trader), hidden=not trader), md=3),
        ], className="g-2"),
        html.Div(id=ids.RESTORE_MESSAGE, className="small my-1"),
        html.Div(dbc.InputGroup([
            dbc.Input(id=ids.RENAME_NAME, placeholder="new name for the selected preset", maxLength=64, size="sm"),
            dbc.Button("Rename", id=ids.RENAME, size="sm", color="secondary", n_clicks=0, disabled=not trader),
            dbc.Button("Delete…", id=ids.DELETE, size="sm", color="danger", outline=True, n_clicks=0,
                       disabled=not trader),
        ], size="sm", className="my-1"), hidden=not trader),
        html.Div(id=ids.MANAGE_MESSAGE, className="small my-1"),
        html.Div(id=ids.DIFF, className="my-2"),
    ], className="pt-2")


def layout(**_kwargs: object) -> html.Div:
    with get_context().store.read() as session:
        presets = preset_store.list_presets(session)
        regimes = tuple(str(r.regime_name) for r in active_params(session).table("RegimeParameters"))
        table = preset_store.regime_preset_table(session, regimes)
        line, hold, in_force = planner_regime_table.in_force(session)  # redrawn by planner_regime_table
    active = presets.get(in_force) or presets["default"]
    trader = at_least(principal.current().role, Role.TRADER)
    return html.Div([
        html.Div([html.H3("Planner", className="mb-0"), html.Div(line, id=ids.IN_FORCE, className="text-muted small")],
                 className="mb-3"),
        html.Div(hold, id=ids.REGIME_HOLD, className=planner_regime_table.HOLD_CLASS if hold else ""),
        dcc.Store(id=ids.IN_FORCE_PRINT, data=planner_regime_table.in_force_print(line, hold)),
        html.Div() if trader else read_only_note(
            ids.READ_ONLY, "Read-only for your role: saving presets, the regime table and sending need a trader."),
        dcc.Interval(id=ids.INTERVAL, interval=REFRESH_MS),
        dcc.Store(id=ids.PREVIEW_KEY), dcc.Store(id=ids.PREVIEW_PORTFOLIO), dcc.Store(id=ids.SEND_SHOWN),
        dcc.Store(id=ids.RECENT_PRINT), dcc.Store(id=ids.PRESETS_CHANGED),
        dbc.Row([
            dbc.Col(_controls(presets, active, trader), lg=4),
            dbc.Col([
                html.H6("Plan for the current portfolio"),
                _send_bar(trader),
                html.Div(id=ids.ERROR, className="small text-danger"),
                dcc.Loading(html.Div(id=ids.PLAN), delay_show=400),
                planner_overrides_panel.precedence_block(),
            ], lg=8),
        ]),
        dbc.Tabs([
            dbc.Tab(_compare_tab(presets), label="Two presets side by side", tab_id="compare"),
            dbc.Tab(_regime_tab(table, presets, trader), label="Regime → preset", tab_id="regimes"),
            dbc.Tab(_user_presets_tab(presets, trader), label="User presets", tab_id="user"),
            dbc.Tab(html.Div(id=ids.RECENT, className="pt-2"), label="Stored plans", tab_id="recent"),
        ], id=ids.TABS, active_tab="compare", className="mt-3"),
        confirm_modal(ids.SEND, "Send this plan?", html.Div(id=ids.SEND_BODY), "Send plan",
                      confirm_color="primary"),
        confirm_modal(ids.DELETE, "Delete user preset?", html.Div(id=ids.DELETE_BODY), "Delete preset"),
    ])
