"""The Planner page's overrides editor, its layout and its callbacks together (issue 10: a panel and its wiring
in one module): pick a numeric preset key (its allowed range and the value in effect are in the picker), type a
value, add; remove with the row's button. A table says for every parameter whether a slider or an override set
it: an override beats the slider that moves the same parameter.

The page's overrides live in one dcc.Store (ids.OVERRIDES) that only ever holds values the preset loader's
check accepted: a refused value (text, NaN, a list, out of range) leaves the store, hence the preview and
anything saved, as they were, and the message names the key and its allowed range. The preview
(webapp/planner_callbacks.py) and Save (webapp/planner_preset_callbacks.py) read the store and check it again.
Editing overrides changes nothing stored: saving them is the audited user preset save.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from components.tables import small_table
from engine.auth.roles import Role
from engine.planner.api import PlannerPreset, PresetError
from webapp import planner_ids as ids
from webapp import planner_preview as pv
from webapp.auth.access import requires
from webapp.inputs import is_click, triggered_by_click
from webapp.planner_overrides import (
    EDITABLE_KEYS,
    add_override,
    allowed,
    checked_overrides,
    remove_override,
    sources,
)
from webapp.planner_preset_callbacks import switch_values

PRECEDENCE_NOTE = ("Precedence: base preset < slider < override. An override beats the slider that moves the same "
                   "parameter (the slider's value is ignored while the override is set); remove the override to "
                   "give the parameter back to its slider. Overrides are saved with a user preset.")


def key_options(params: Mapping[str, object]) -> list[dict[str, str]]:
    """Every numeric preset key, labelled with its allowed range and the value in effect now."""
    return [{"label": f"{k} ({allowed(k)}; now {params.get(k)})", "value": k} for k in EDITABLE_KEYS]


def overrides_block(preset: PlannerPreset, overrides: Mapping[str, object]) -> html.Div:
    """The editor's layout: opened on `preset` with its stored `overrides` (a user preset's; {} for a built-in)."""
    return html.Div([
        html.H6("Overrides", className="mt-2 mb-1"),
        html.Div(PRECEDENCE_NOTE, className="small text-muted mb-1"),
        dcc.Store(id=ids.OVERRIDES, data=dict(overrides)),
        dcc.Dropdown(id=ids.OVERRIDE_KEY, options=key_options(preset.params), placeholder="numeric parameter",
                     clearable=False, className="mb-1"),
        html.Div(id=ids.OVERRIDE_KEY_HELP, className="small text-secondary mb-1"),
        dbc.InputGroup([
            dbc.Input(id=ids.OVERRIDE_VALUE, type="text", placeholder="value, e.g. 0.001 or 5", maxLength=64),
            dbc.Button("Add override", id=ids.OVERRIDE_ADD, color="secondary", n_clicks=0),
        ], size="sm", className="mb-1"),
        html.Div(id=ids.OVERRIDE_MESSAGE, className="small mb-1"),
        html.Div(id=ids.OVERRIDE_ROWS),
    ], className="mb-2")


def precedence_block() -> html.Div:
    """Where the parameters in effect come from; wide (six columns), so the page puts it beside the plan."""
    return html.Div([
        html.H6("What the sliders and overrides set", className="mt-3 mb-1"),
        html.Div("An override beats the slider that moves the same parameter.", className="small text-muted mb-1"),
        html.Div(id=ids.PRECEDENCE),
    ])


def edit_outputs(trigger: object, add_clicks: object, triggered: Any, key: object, text: object,
                 current: object) -> tuple[Any, Any]:
    """(new overrides, message) for Add or a row's Remove; a refused value changes nothing and says why."""
    if trigger == ids.OVERRIDE_ADD and is_click(add_clicks):
        try:
            new = add_override(current, key, text)
        except PresetError as exc:
            return no_update, html.Span(f"Not added: {exc}", className="text-danger")
        return new, html.Span(f"{key} = {new[str(key)]} overrides the preset and the sliders.", className="text-success")
    if isinstance(trigger, Mapping) and trigger.get("type") == ids.OVERRIDE_REMOVE and triggered_by_click(triggered):
        try:
            return remove_override(current, trigger.get("key")), html.Span(
                f"Removed the override of {trigger.get('key')}.", className="text-success")
        except PresetError as exc:
            return no_update, html.Span(str(exc), className="text-danger")
    return no_update, no_update


def rows_view(overrides: Mapping[str, object]) -> Any:
    rows = [[html.Code(k), str(v), allowed(k) if k in EDITABLE_KEYS else "",
             dbc.Button("Remove", id=ids.override_remove(k), color="link", size="sm", n_clicks=0, className="p-0")]
            for k, v in sorted(overrides.items())]
    return small_table(["Override", "Value", "Allowed", ""], rows, "No overrides: the preset and the sliders decide.")


def precedence_view(base: PlannerPreset, composed: PlannerPreset, sliders: Mapping[str, float],
                    overrides: Mapping[str, object]) -> Any:
    """Each parameter a slider moved or an override set: the base's value, the slider's, the override, in effect."""
    shown = sources(base, sliders, overrides, composed)
    rows = [[html.Code(s.key), str(s.base), "" if s.slider is None else f"{s.slider_value} ({s.slider})",
             "" if s.override is None else str(s.override), html.Strong(str(s.effective)), s.by] for s in shown]
    return small_table(["Parameter", f"Base ({base.name})", "Slider sets", "Override", "In effect", "Set by"], rows,
                       f"Every parameter has the value of base preset {base.name}.")


def describe_outputs(name: object, sliders: object, switch_ids: list[dict[str, str]], switches: object,
                     overrides: object, key: object) -> tuple[Any, Any, Any, Any]:
    """(override rows, precedence table, key options, key help) for the page's current controls."""
    presets = pv.all_presets()
    try:
        values = switch_values(switch_ids, switches) if isinstance(switches, list) else switches
        composed = pv.composed_preset(presets, name, sliders, values, overrides)
        base = pv.root_preset(presets, str(name))
        checked = checked_overrides(overrides)
    except (PresetError, ValueError, TypeError) as exc:
        return html.Div(str(exc), className="small text-danger"), no_update, no_update, no_update
    positions = pv.slider_positions(sliders)
    help_text = ""
    if isinstance(key, str) and key in EDITABLE_KEYS:
        by = {s.key: s.by for s in sources(base, positions, checked, composed)}.get(key, f"base {base.name}")
        help_text = f"{key}: {allowed(key)}; in effect now {composed.params.get(key)} (set by {by})."
    return (rows_view(checked), precedence_view(base, composed, positions, checked), key_options(composed.params),
            help_text)


def register_callbacks() -> None:
    """Called by pages/planner.py for each app it is built into (see webapp/planner_callbacks.py)."""

    @dash.callback(Output(ids.OVERRIDES, "data"), Output(ids.OVERRIDE_MESSAGE, "children"),
                   Input(ids.OVERRIDE_ADD, "n_clicks"), Input({"type": ids.OVERRIDE_REMOVE, "key": ALL}, "n_clicks"),
                   State(ids.OVERRIDE_KEY, "value"), State(ids.OVERRIDE_VALUE, "value"), State(ids.OVERRIDES, "data"),
                   prevent_initial_call=True)
    @requires(Role.VIEWER)
    def edit_overrides(add: int | None, _removes: list[int | None], key: str | None, text: str | None,
                       current: dict[str, object] | None) -> Any:
        return edit_outputs(ctx.triggered_id, add, ctx.triggered, key, text, current)

    @dash.callback(Output(ids.OVERRIDE_ROWS, "children"), Output(ids.PRECEDENCE, "children"),
                   Output(ids.OVERRIDE_KEY, "options"), Output(ids.OVERRIDE_KEY_HELP, "children"),
                   Input(ids.PRESET, "value"), Input({"type": ids.SLIDER, "name": ALL}, "value"),
                   Input({"type": ids.SWITCH, "name": ALL}, "value"), Input(ids.OVERRIDES, "data"),
                   Input(ids.OVERRIDE_KEY, "value"), State({"type": ids.SWITCH, "name": ALL}, "id"))
    @requires(Role.VIEWER)
    def describe_overrides(name: str, sliders: list[float], switches: list[bool], overrides: dict[str, object] | None,
                           key: str | None, switch_ids: list[dict[str, str]]) -> Any:
        return describe_outputs(name, sliders, switch_ids, switches, overrides, key)
