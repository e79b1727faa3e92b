"""Planner page, Regime → preset tab: save the table of which preset the engine plans with in each regime
(layout: pages/planner.py; ids: webapp/planner_ids.py). The table's pickers follow renamed and deleted user
presets through webapp/planner_pickers.py. Every save is audited with the logged-in user
(engine/planner/preset_store.py records it; webapp.control_actions.web_actor names them).

The page's "In force now" line and its uncertain-regime warning are drawn here too (in_force), and redrawn after a
save and on the page's interval: drawn once at page load, they kept naming the old preset after the table was saved
or the regime changed, and a trader reading them to see what the engine trades with was misled."""
from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Input, Output, State, ctx, no_update
from sqlalchemy.orm import Session

from engine.auth.roles import Role
from engine.params.versions import active_params
from engine.planner import preset_store
from engine.planner.api import PresetError
from engine.planner.send_guard import digest
from engine.store.current_regime import current_regime, uncertain_note
from webapp import planner_ids as ids
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.control_actions import web_actor
from webapp.inputs import is_click, triggered_by_click
from webapp.planner_views import error_text, ok_text

HOLD_CLASS = "alert alert-warning small py-1 px-2 mb-2"  # the warning's look while the regime is uncertain


def in_force(session: Session) -> tuple[str, str | None, str]:
    """(the "In force now" line, the uncertain-regime warning or None, the name of the preset in force): what the
    engine plans with now, from the newest snapshot's effective regime and the regime -> preset table."""
    current = current_regime(session)  # the effective regime (None while uncertain under CONSERVATIVE)
    hold = uncertain_note(current)
    preset, why = preset_store.preset_for_regime(session, current.regime_name if current else None, hold)
    return (f"In force now: {preset.name} ({why}). The page opens on it; any preset can be previewed, compared and "
            "sent.", hold, preset.name)


def in_force_print(line: str, hold: str | None) -> str:
    return digest([line, hold])


def in_force_outputs(shown: object) -> tuple[Any, Any, Any, Any]:
    """(line, warning, the warning's class, print): the header as it is now, no_update while it is as shown."""
    with get_context().store.read() as session:
        line, hold, _name = in_force(session)
    stamp = in_force_print(line, hold)
    if stamp == shown:
        return no_update, no_update, no_update, no_update
    return line, hold, HOLD_CLASS if hold else "", stamp


def save_regime_table(ids: list[dict[str, str]], values: object) -> Any:
    """Save the whole table the page shows. Names are checked against the active parameters' regimes (the page's
    rows, pages/planner.py) and presets against the known ones; a partial, unknown or forged table is refused
    whole (the store refuses what the page's rows cannot be), so no mapping is ever lost."""
    if not isinstance(ids, list) or not isinstance(values, list) or len(values) != len(ids) \
            or not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in ids):
        return error_text("The table is out of date; reload the page.")
    mapping = {i["name"]: v for i, v in zip(ids, values, strict=True)}
    if len(mapping) != len(ids):
        return error_text("The table is out of date; reload the page.")
    if not all(isinstance(v, str) for v in mapping.values()):
        return error_text("Every regime needs a preset.")
    context = get_context()
    with context.store.read() as session:
        regimes = [str(r.regime_name) for r in active_params(session).table("RegimeParameters")]
    try:
        preset_store.set_regime_preset_table(context.store, context.clock.now(), web_actor(), mapping, regimes)
    except (PresetError, ValueError) as exc:
        return error_text(f"Not saved: {exc}; nothing was changed.")
    changed = ", ".join(f"{r} → {p}" for r, p in sorted(mapping.items()) if p != "default") or "every regime → default"
    return ok_text(f"Saved: {changed}.")


def register_callbacks() -> None:
    """Called by pages/planner.py each time Dash executes the page for a new app (see planner_callbacks)."""

    @dash.callback(Output(ids.REGIME_MESSAGE, "children"), Input(ids.REGIME_SAVE, "n_clicks"),
                   State({"type": ids.REGIME, "name": ALL}, "id"),
                   State({"type": ids.REGIME, "name": ALL}, "value"), prevent_initial_call=True)
    @requires(Role.TRADER)
    def save_regimes(n: int | None, ids: list[dict[str, str]], values: list[str]) -> Any:
        if not is_click(n) or not triggered_by_click(ctx.triggered):
            return no_update
        return save_regime_table(ids, values)

    @dash.callback(Output(ids.IN_FORCE, "children"), Output(ids.REGIME_HOLD, "children"),
                   Output(ids.REGIME_HOLD, "className"), Output(ids.IN_FORCE_PRINT, "data"),
                   Input(ids.INTERVAL, "n_intervals"), Input(ids.REGIME_MESSAGE, "children"),
                   State(ids.IN_FORCE_PRINT, "data"), prevent_initial_call=True)
    @requires(Role.VIEWER)
    def refresh_in_force(_n: int | None, _saved: object, shown: str | None) -> Any:
        return in_force_outputs(shown)
