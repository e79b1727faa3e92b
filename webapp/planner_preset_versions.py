"""Planner page, User presets tab: the versions of the user preset picked in the versions selector, the diff of
two of them and **Restore version A** (layout: pages/planner.py; ids: webapp/planner_ids.py). Saving, renaming
and deleting a preset are webapp/planner_preset_callbacks.py's; a restore is audited with the logged-in user
(engine/planner/preset_store.py records it; webapp.control_actions.web_actor names them)."""
from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, html, no_update

from engine.auth.roles import Role
from engine.planner import api, preset_store
from engine.planner.api import PlannerPreset, PresetError
from webapp import planner_ids as ids
from webapp import planner_preview as pv
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.control_actions import web_actor
from webapp.inputs import is_click
from webapp.planner_views import diff_table, error_text, ok_text, preset_options, versions_table


def version_preset(version: Any) -> PlannerPreset:
    """A stored version as the preset it describes (its base with its sliders and overrides); stored=True: an old
    version with targets.method "fixed" is still shown and diffed (saving or planning with it is refused)."""
    return api.compose_preset(api.load_preset(version.base), version.sliders, version.overrides, name=version.name,
                              stored=True)


def versions_outputs(name: object) -> tuple[Any, list[dict[str, Any]], Any, Any]:
    """The versions table of user preset `name` and the diff pickers' options (newest two preselected)."""
    if not isinstance(name, str) or not name:
        return html.Div("No user presets yet: tune the sliders and save one.", className="small text-muted"), [], None, None
    with get_context().store.read() as session:
        versions = preset_store.preset_versions(session, name)
    options = [{"label": f"v{v.version} by {v.author}", "value": v.version} for v in versions]
    numbers = sorted(v.version for v in versions)
    a = numbers[-2] if len(numbers) > 1 else (numbers[-1] if numbers else None)
    return versions_table(versions), options, a, (numbers[-1] if numbers else None)


def diff_outputs(name: object, a: object, b: object) -> Any:
    if not isinstance(name, str) or not isinstance(a, int) or not isinstance(b, int):
        return ""
    with get_context().store.read() as session:
        versions = {v.version: v for v in preset_store.preset_versions(session, name)}
    if a not in versions or b not in versions:
        return error_text(f"{name} has no version {a if a not in versions else b}")
    try:
        diff = preset_store.diff_presets(version_preset(versions[a]), version_preset(versions[b]))
    except (PresetError, KeyError) as exc:
        return error_text(f"Cannot compare: {exc}")
    marks = {key: " and ".join(f"v{n}" for n in (a, b) if key in versions[n].overrides)
             for key in set(versions[a].overrides) | set(versions[b].overrides)}
    return diff_table(diff, f"v{a}", f"v{b}", {k: f"set in {m}" for k, m in marks.items()})


def restore_outputs(name: object, version: object) -> Any:
    """Restore `version` of user preset `name` as its newest version (audited with the logged-in user)."""
    return restore_version_of(name, version)[0]


def restore_version_of(name: object, version: object) -> tuple[Any, bool]:
    """(message, restored?) for restoring `version` of `name` as its newest version."""
    if not isinstance(name, str) or not isinstance(version, int) or isinstance(version, bool):
        return error_text("Pick a user preset and its version A to restore."), False
    context = get_context()
    try:
        new = preset_store.restore_preset_version(context.store, context.clock.now(), web_actor(), name, version)
        pv.forget_presets()
    except (PresetError, ValueError, LookupError) as exc:
        return error_text(f"Not restored: {exc}"), False
    return ok_text(f"Restored {name} version {version} as version {new}; it is loaded in the controls."), True


def register_callbacks() -> None:
    """Called by pages/planner.py each time Dash executes the page for a new app (see planner_callbacks)."""

    @dash.callback(Output(ids.VERSIONS, "children"), Output(ids.DIFF_A, "options"),
                   Output(ids.DIFF_A, "value"), Output(ids.DIFF_B, "options"), Output(ids.DIFF_B, "value"),
                   Input(ids.VERSIONS_NAME, "value"), Input(ids.SAVE_MESSAGE, "children"),
                   Input(ids.RESTORE_MESSAGE, "children"))
    @requires(Role.VIEWER)
    def show_versions(name: str | None, _saved: Any, _restored: Any) -> Any:  # rename/delete change `name`
        table, options, a, b = versions_outputs(name)
        return table, options, a, options, b

    @dash.callback(Output(ids.DIFF, "children"), Input(ids.DIFF_A, "value"), Input(ids.DIFF_B, "value"),
                   State(ids.VERSIONS_NAME, "value"))
    @requires(Role.VIEWER)
    def diff_versions(a: int | None, b: int | None, name: str | None) -> Any:
        return diff_outputs(name, a, b)

    @dash.callback(Output(ids.RESTORE_MESSAGE, "children"), Output(ids.PRESET, "options", allow_duplicate=True),
                   Output(ids.PRESET, "value", allow_duplicate=True), Input(ids.RESTORE, "n_clicks"),
                   State(ids.VERSIONS_NAME, "value"), State(ids.DIFF_A, "value"), prevent_initial_call=True)
    @requires(Role.TRADER)
    def restore_version(n: int | None, name: str | None, version: int | None) -> Any:
        if not is_click(n):
            return no_update, no_update, no_update
        message, restored = restore_version_of(name, version)
        if not restored:
            return message, no_update, no_update
        # the restored version is now the preset's newest: load it into the controls (sliders, switches, overrides)
        return message, preset_options(list(pv.all_presets())), name
