"""Planner page callbacks (the layout they wire is pages/planner.py; ids in webapp/planner_ids.py): the preset
picker, the live preview (preset + sliders + switches + overrides), the side-by-side comparison and **Send plan**.

The preview and the comparison run on every interval tick but answer `no_update` unless their cache key
(webapp/planner_preview.py: inputs stamp + preset) differs from the one on screen, so an unchanged portfolio
costs a few cheap queries, not a plan. Send sends the plan the confirm dialog showed (its key is carried in the
dialog's own store, so a preview refreshed meanwhile cannot swap it), never a recomputed one, and only while it is
current: the portfolio unchanged and claimed by no other Send (engine/planner/send_guard.py), and the market not
moved past it (webapp/planner_preview.market_refusal). The send, its record and its audit: webapp/planner_send.py.
"""
from __future__ import annotations

import logging
import math
from typing import Any

import dash
from dash import ALL, Input, Output, State, ctx, html, no_update
from dash.exceptions import PreventUpdate

from components.formatting import money
from engine.auth.roles import Role
from engine.planner import api
from engine.planner.api import PresetError
from webapp import planner_ids as ids
from webapp import planner_preview as pv
from webapp.auth.access import requires
from webapp.inputs import is_click
from webapp.planner_preset_callbacks import switch_values
from webapp.planner_send import NOT_SENT as NOT_SENT  # re-exported: the send view tests count with it
from webapp.planner_send import send_shown_plan
from webapp.planner_views import compare_column, plan_view, qty_text

SLIDERS = Output({"type": ids.SLIDER, "name": ALL}, "value")
SWITCHES = {"type": ids.SWITCH, "name": ALL}
log = logging.getLogger(__name__)
PLAN_FAILED = ("The planner failed on this portfolio with preset {preset!r} ({kind}); the details are in the server "
               "log. The last plan shown was kept; nothing was sent.")


def preset_controls(name: object, switch_ids: list[dict[str, str]]) -> tuple[list[Any], list[Any], str]:
    """Slider positions, switch values and description of the picked preset (no_update for an unknown one)."""
    presets = pv.all_presets()
    preset = presets.get(name) if isinstance(name, str) else None
    if preset is None:
        return [no_update] * len(pv.SLIDER_NAMES), [no_update] * len(switch_ids), f"unknown preset {str(name)[:40]!r}"
    flat = preset.to_flat()
    sliders = [float(preset.sliders.get(s, 0.5)) for s in pv.SLIDER_NAMES]
    switches = [bool(flat.get(i["name"], False)) for i in switch_ids]
    return sliders, switches, preset.description


SLIDER_LABELS = {s.name: s.label.lower() for s in api.SLIDERS}


def _number(value: object) -> float | None:
    """A typed box value as a finite number, else None (empty, text, NaN, a bool: the browser can send anything)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def slider_box_outputs(trigger: object, names: object, sliders: object, boxes: object) -> tuple[Any, Any, Any]:
    """(slider values, box values, message) keeping each slider and its number box in step.

    A moved slider writes its position into its box. A typed value in 0..1 moves the slider; one outside is
    clamped to the nearer end, the slider moves there and the message says so ("risk appetite 1.7 is outside
    0..1; used 1.0"); something that is no number leaves the slider and says so. Unchanged values answer
    nothing (PreventUpdate), so the slider ↔ box round trip stops after one step and a message stays until the next
    change. The slider and box outputs are wildcard (ALL) outputs: Dash 4 takes only a list there, one entry per
    slider (a bare no_update was refused with HTTP 400, so a typed value never moved its slider)."""
    if not isinstance(names, list) or not isinstance(sliders, list) or not isinstance(boxes, list) \
            or not len(names) == len(sliders) == len(boxes):
        raise PreventUpdate
    keep: list[Any] = [no_update] * len(names)  # a wildcard (ALL) output takes a list: one no_update per slider
    kind = trigger.get("type") if isinstance(trigger, dict) else None
    if kind == ids.SLIDER:
        synced = [s if _number(b) != _number(s) else no_update for s, b in zip(sliders, boxes, strict=True)]
        if not any(b is not no_update for b in synced):
            raise PreventUpdate
        return keep, synced, ""
    name = trigger.get("name") if kind == ids.SLIDER_BOX and isinstance(trigger, dict) else None
    if name not in names:
        raise PreventUpdate
    i = names.index(name)
    label, typed, current = SLIDER_LABELS.get(str(name), str(name)), _number(boxes[i]), _number(sliders[i])
    if typed is None:
        new_boxes = list(keep)
        new_boxes[i] = sliders[i]
        shown = "unchanged" if current is None else f"kept {current:g}"
        return keep, new_boxes, f"{label}: type a number from 0 to 1; {shown}."
    if typed == current:
        raise PreventUpdate
    used = min(max(typed, 0.0), 1.0)
    new_sliders: list[Any] = list(keep)
    if used != current:
        new_sliders[i] = used
    if used == typed:
        return new_sliders, keep, ""
    new_boxes = list(keep)
    new_boxes[i] = used
    return new_sliders, new_boxes, f"{label} {typed:g} is outside 0..1; used {used:.1f}."


def preview_outputs(name: object, sliders: object, switch_ids: list[dict[str, str]], switches: object,
                    shown_key: object, overrides: object = None) -> tuple[Any, Any, Any, Any]:
    """(plan view, key, portfolio stamp, error) for the page's controls and overrides; no_update when the key is
    the one shown."""
    try:
        values = switch_values(switch_ids, switches) if isinstance(switches, list) else switches
        preset = pv.composed_preset(pv.all_presets(), name, sliders, values, overrides)
        result = pv.preview(preset)
    except (PresetError, ValueError, TypeError) as exc:  # a malformed control: say so, keep the last good plan
        return no_update, no_update, no_update, str(exc)
    except Exception as exc:  # noqa: BLE001 - a planner bug on this portfolio: say so on the page, keep the traceback
        log.exception("planner preview failed (preset %r)", name)
        return no_update, no_update, no_update, PLAN_FAILED.format(preset=str(name)[:40], kind=type(exc).__name__)
    if result.key == shown_key:
        return no_update, no_update, no_update, no_update
    return plan_view(result.plan), result.key, result.portfolio, ""


def compare_outputs(a: object, b: object, shown: object, tab: object = "compare") -> tuple[Any, Any]:
    """Both presets' plans on the same portfolio, side by side; no_update when neither key changed or while
    another tab is open (two more plans per input change only for someone looking at them)."""
    if tab != "compare":
        return no_update, no_update
    presets = pv.all_presets()
    chosen = [presets.get(x) if isinstance(x, str) else None for x in (a, b)]
    if chosen[0] is None or chosen[1] is None:
        return html.Div("Pick two presets to compare.", className="small text-muted"), None
    try:
        left, right = pv.preview(chosen[0]), pv.preview(chosen[1])
    except Exception as exc:  # noqa: BLE001 - a planner bug on this portfolio: say so on the page, keep the traceback
        log.exception("planner comparison failed (presets %r, %r)", a, b)
        return html.Div(PLAN_FAILED.format(preset=f"{a} / {b}"[:80], kind=type(exc).__name__),
                        className="text-danger"), None
    keys = [left.key, right.key]
    if keys == shown:
        return no_update, no_update
    return dash.html.Div([
        dash.html.Div(compare_column(f"{left.preset.name}", left.plan, ids.COMPARE_LEFT), className="col-md-6"),
        dash.html.Div(compare_column(f"{right.preset.name}", right.plan, ids.COMPARE_RIGHT), className="col-md-6"),
    ], className="row"), keys


# ---- Send plan ----------------------------------------------------------------------------------------
def send_dialog(key: object) -> tuple[bool, Any, bool]:
    """(open, text, confirm disabled): every trade in order, and a what-if plan said to be one. With nothing to
    send (no plan, no trades, a what-if plan) the dialog says why and its Send button is disabled: confirming
    used to answer '0 of 0 order(s) sent'."""
    plan = pv.cached_plan(key)
    if plan is None:
        return True, html.Div("The plan on screen is no longer available; wait for the preview to refresh.",
                              className="text-danger"), True
    if not plan.steps:
        return True, "The plan has no trades: there is nothing to send.", True
    lines = [html.Li(f"{s.side} {qty_text(s.qty)} {s.symbol} (≈ {money(s.notional, 0)})") for s in plan.steps]
    warning = html.Div(f"This is a what-if plan (it relaxes {plan.relaxed}): it is not sent.",
                       className="text-warning fw-semibold") if plan.relaxed else ""
    return True, html.Div([html.Div(f"Send {len(plan.steps)} order(s) in this order, preset {plan.preset}:"),
                           html.Ol(lines), warning]), bool(plan.relaxed)


def dialog_outputs(opened: bool, key: object, portfolio: object) -> tuple[Any, Any, Any, Any]:
    """(open, text, confirm disabled, the dialog's plan): the plan the dialog shows is the one Send sends."""
    if not opened:
        return False, no_update, no_update, None
    return (*send_dialog(key), {"key": key, "portfolio": portfolio})


def confirm_outputs(n: object, shown: object) -> tuple[Any, bool]:
    """Send the plan the dialog showed (`shown`: its key and portfolio stamp, from the dialog's store)."""
    if not is_click(n):
        return no_update, False
    if not isinstance(shown, dict):
        return html.Div("Not sent: open the Send dialog again.", className="text-danger"), False
    return send_shown_plan(shown.get("key"), shown.get("portfolio")), False


def register_callbacks() -> None:
    """Called by pages/planner.py each time Dash executes the page for a new app (a dash.callback
    registration is consumed by the app being built, so a plain import would serve only the first app)."""

    @dash.callback(SLIDERS, Output(SWITCHES, "value"), Output(ids.PRESET_DESCRIPTION, "children"),
                   Output(ids.OVERRIDES, "data", allow_duplicate=True),
                   Input(ids.PRESET, "value"), State(SWITCHES, "id"), prevent_initial_call=True)
    @requires(Role.VIEWER)
    def load_preset(name: str, switch_ids: list[dict[str, str]]) -> Any:
        sliders, switches, description = preset_controls(name, switch_ids)  # a user preset brings its overrides
        return sliders, switches, description, pv.stored_overrides(name) if sliders[0] is not no_update else no_update

    @dash.callback(Output({"type": ids.SLIDER, "name": ALL}, "value", allow_duplicate=True),
                   Output({"type": ids.SLIDER_BOX, "name": ALL}, "value"), Output(ids.SLIDER_MESSAGE, "children"),
                   Input({"type": ids.SLIDER, "name": ALL}, "value"),
                   Input({"type": ids.SLIDER_BOX, "name": ALL}, "value"),
                   State({"type": ids.SLIDER, "name": ALL}, "id"), prevent_initial_call=True)
    @requires(Role.VIEWER)
    def sync_slider_boxes(sliders: list[float], boxes: list[object], slider_ids: list[dict[str, str]]) -> Any:
        return slider_box_outputs(ctx.triggered_id, [i["name"] for i in slider_ids], sliders, boxes)

    @dash.callback(Output(ids.PLAN, "children"), Output(ids.PREVIEW_KEY, "data"),
                   Output(ids.PREVIEW_PORTFOLIO, "data"), Output(ids.ERROR, "children"),
                   Input(ids.PRESET, "value"), Input({"type": ids.SLIDER, "name": ALL}, "value"),
                   Input(SWITCHES, "value"), Input(ids.OVERRIDES, "data"), Input(ids.INTERVAL, "n_intervals"),
                   State(SWITCHES, "id"), State(ids.PREVIEW_KEY, "data"))
    @requires(Role.VIEWER)
    def preview_plan(name: str, sliders: list[float], switches: list[bool], overrides: dict[str, object] | None,
                     _n: int | None, switch_ids: list[dict[str, str]], shown_key: str | None) -> Any:
        return preview_outputs(name, sliders, switch_ids, switches, shown_key, overrides)

    @dash.callback(Output(ids.COMPARE, "children"), Output(ids.COMPARE_KEY, "data"),
                   Input(ids.COMPARE_A, "value"), Input(ids.COMPARE_B, "value"),
                   Input(ids.INTERVAL, "n_intervals"), Input(ids.TABS, "active_tab"),
                   State(ids.COMPARE_KEY, "data"))
    @requires(Role.VIEWER)
    def compare_presets(a: str, b: str, _n: int | None, tab: str | None, shown: list[str] | None) -> Any:
        return compare_outputs(a, b, shown, tab)

    @dash.callback(Output(ids.SEND_MODAL, "is_open"), Output(ids.SEND_BODY, "children"),
                   Output(ids.SEND_CONFIRM, "disabled"), Output(ids.SEND_SHOWN, "data"),
                   Input(ids.SEND, "n_clicks"), Input(ids.SEND_CANCEL, "n_clicks"),
                   State(ids.PREVIEW_KEY, "data"), State(ids.PREVIEW_PORTFOLIO, "data"), prevent_initial_call=True)
    @requires(Role.TRADER)
    def ask_send(_open: int, _cancel: int, key: str | None, portfolio: str | None) -> Any:
        return dialog_outputs(ctx.triggered_id == ids.SEND and is_click(_open), key, portfolio)

    @dash.callback(Output(ids.SEND_RESULT, "children"), Output(ids.SEND_MODAL, "is_open", allow_duplicate=True),
                   Input(ids.SEND_CONFIRM, "n_clicks"), State(ids.SEND_SHOWN, "data"), prevent_initial_call=True)
    @requires(Role.TRADER)
    def confirm_send(n: int | None, shown: dict[str, object] | None) -> Any:
        return confirm_outputs(n, shown)
