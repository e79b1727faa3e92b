"""Planner page, Regime → preset tab: save the table of which preset the engine plans with in each regime
(layout: pages/planner.py; ids: webapp/planner_ids.py). The table's pickers follow renamed and deleted user
presets through webapp/planner_pickers.py. Every save is audited with the logged-in user
(engine/planner/preset_store.py records it; webapp.control_actions.web_actor names them)."""
from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Input, Output, State, ctx, no_update

from engine.auth.roles import Role
from engine.params.versions import active_params
from engine.planner import preset_store
from engine.planner.api import PresetError
from webapp import planner_ids as ids
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.control_actions import web_actor
from webapp.inputs import is_click, triggered_by_click
from webapp.planner_views import error_text, ok_text


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
