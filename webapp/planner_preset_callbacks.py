"""Planner page callbacks for what is kept in the store (layout: pages/planner.py; ids: webapp/planner_ids.py):
user presets (save a version of base + sliders + switches + overrides, list, diff, restore, rename, delete),
the regime → preset table, and the last stored plans. Every write is audited with the logged-in user
(engine/planner/preset_store.py records it; webapp.control_actions.web_actor names them)."""
from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Input, Output, State, ctx, html, no_update

from engine.auth.roles import Role
from engine.planner import api, preset_store
from engine.planner.api import PlannerPreset, PresetError
from webapp import planner_ids as ids
from webapp import planner_preview as pv
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.control_actions import web_actor
from webapp.inputs import is_click, triggered_by_click
from webapp.planner_overrides import checked_overrides
from webapp.planner_views import diff_table, preset_options, recent_plans_table, versions_table

NAME_LIMIT = 64


def _ok(text: str) -> html.Span:
    return html.Span(text, className="text-success")


def _error(text: str) -> html.Span:
    return html.Span(text, className="text-danger")


def user_preset_options() -> list[dict[str, str]]:
    return [{"label": n, "value": n} for n in pv.all_presets() if n not in api.BUILT_IN_PRESETS]


def save_user_preset(save_name: object, picked: object, sliders: object, switch_ids: list[dict[str, str]],
                     switches: object, numeric: object = None) -> tuple[Any, Any, Any]:
    """Save base + sliders + overrides (switches that differ from the base, and the overrides editor's values) as
    a new version of `save_name`, audited with the logged-in user: (message, picker options, versions options).
    Everything is checked before the store is touched: a refused value saves nothing."""
    if not isinstance(save_name, str) or not save_name.strip() or len(save_name.strip()) > NAME_LIMIT:
        return _error(f"A user preset needs a name of 1 to {NAME_LIMIT} characters."), no_update, no_update
    name = save_name.strip()
    if name in api.BUILT_IN_PRESETS:
        return _error(f"{name!r} is a built-in preset; save under another name."), no_update, no_update
    presets = pv.all_presets()
    try:
        values = dict(zip([i["name"] for i in switch_ids], switches, strict=True)) if isinstance(switches, list) \
            else switches
        composed = pv.composed_preset(presets, picked, sliders, values, numeric)  # checks every value first
        root = pv.root_preset(presets, str(picked))
        overrides = {**pv.switch_overrides(root, values), **checked_overrides(numeric)}
        context = get_context()
        version = preset_store.save_user_preset(context.store, context.clock.now(), web_actor(), name, root.name,
                                                dict(composed.sliders), overrides)
        pv.forget_presets()
    except (PresetError, ValueError, TypeError) as exc:
        return _error(f"Not saved: {exc}"), no_update, no_update
    return (_ok(f"Saved {name!r} version {version} (base {root.name}); it is in the preset picker."),
            preset_options(list(pv.all_presets())), user_preset_options())


def save_outputs(save_name: object, picked: object, sliders: object, switch_ids: list[dict[str, str]],
                 switches: object, numeric: object = None) -> tuple[Any, Any, Any, Any]:
    """save_user_preset plus the versions selector's value: after a save it selects the saved preset, so the
    versions panel below shows its versions instead of staying empty (the options alone select nothing)."""
    message, presets, users = save_user_preset(save_name, picked, sliders, switch_ids, switches, numeric)
    if users is no_update or not isinstance(save_name, str):
        return message, presets, users, no_update
    return message, presets, users, save_name.strip()


def version_preset(version: Any) -> PlannerPreset:
    """A stored version as the preset it describes (its base with its sliders and overrides)."""
    return api.compose_preset(api.load_preset(version.base), version.sliders, version.overrides, name=version.name)


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
        return _error(f"{name} has no version {a if a not in versions else b}")
    try:
        diff = preset_store.diff_presets(version_preset(versions[a]), version_preset(versions[b]))
    except (PresetError, KeyError) as exc:
        return _error(f"Cannot compare: {exc}")
    marks = {key: " and ".join(f"v{n}" for n in (a, b) if key in versions[n].overrides)
             for key in set(versions[a].overrides) | set(versions[b].overrides)}
    return diff_table(diff, f"v{a}", f"v{b}", {k: f"set in {m}" for k, m in marks.items()})


def restore_outputs(name: object, version: object) -> Any:
    """Restore `version` of user preset `name` as its newest version (audited with the logged-in user)."""
    return restore_version_of(name, version)[0]


def restore_version_of(name: object, version: object) -> tuple[Any, bool]:
    """(message, restored?) for restoring `version` of `name` as its newest version."""
    if not isinstance(name, str) or not isinstance(version, int) or isinstance(version, bool):
        return _error("Pick a user preset and its version A to restore."), False
    context = get_context()
    try:
        new = preset_store.restore_preset_version(context.store, context.clock.now(), web_actor(), name, version)
        pv.forget_presets()
    except (PresetError, ValueError, LookupError) as exc:
        return _error(f"Not restored: {exc}"), False
    return _ok(f"Restored {name} version {version} as version {new}; it is loaded in the controls."), True


# ---- rename / delete (the preset picked in the versions selector) -----------------------------------------
def _refreshed(selected: object, picked: object, renamed_to: str | None) -> tuple[Any, Any, Any, Any]:
    """(picker options, picker value, versions options, versions value) after `selected` was renamed or deleted:
    the caches are forgotten first, the picker moves off a preset that is gone (to its new name, or default)."""
    pv.forget_presets()
    users = user_preset_options()
    names = [u["value"] for u in users]
    picker_value = (renamed_to or preset_store.DEFAULT_PRESET) if picked == selected else no_update
    return (preset_options(list(pv.all_presets())), picker_value, users,
            renamed_to if renamed_to else (names[0] if names else None))


def rename_preset_outputs(name: object, new_name: object, picked: object = None) -> tuple[Any, Any, Any, Any, Any]:
    """Rename user preset `name` (the versions selector's) to `new_name`, audited with the logged-in user:
    (message, picker options, picker value, versions options, versions value). A refusal (built-in, invalid or
    taken name, a preset the regime table uses) changes nothing and says why."""
    if not isinstance(name, str) or not name:
        return _error("Pick a user preset to rename."), no_update, no_update, no_update, no_update
    if not isinstance(new_name, str) or not new_name.strip() or len(new_name.strip()) > NAME_LIMIT:
        return (_error(f"Not renamed: the new name needs 1 to {NAME_LIMIT} characters."), no_update, no_update,
                no_update, no_update)
    context = get_context()
    try:
        new = preset_store.rename_user_preset(context.store, context.clock.now(), web_actor(), name, new_name)
    except (PresetError, ValueError) as exc:
        return _error(f"Not renamed: {exc}"), no_update, no_update, no_update, no_update
    return (_ok(f"Renamed {name!r} to {new!r}; its versions came along, the old name's history stays in the audit."),
            *_refreshed(name, picked, new))


def delete_dialog(name: object) -> tuple[bool, Any, bool]:
    """(open, text, confirm disabled) of the delete confirmation; a preset the regime table uses cannot be
    deleted, so the dialog says which regimes and its Delete button is disabled."""
    if not isinstance(name, str) or not name or name in api.BUILT_IN_PRESETS:
        return True, "Pick a user preset in the selector first.", True
    with get_context().store.read() as session:
        regimes = sorted(r for r, p in preset_store.regime_preset_table(session).items() if p == name)
        count = sum(1 for v in preset_store.preset_versions(session, name) if not v.deleted)
    if regimes:
        return True, _error(f"{name!r} cannot be deleted: the regime → preset table maps {', '.join(regimes)} to "
                            "it. Map them to another preset first."), True
    return True, html.Div([
        html.Div(f"Delete user preset {name!r}? It leaves the preset picker."),
        html.Div(f"Its {count} version(s), their audit events and the stored plans that name it stay readable.",
                 className="small text-muted")]), False


def delete_preset_outputs(name: object, picked: object = None) -> tuple[Any, Any, Any, Any, Any]:
    """Delete (soft: engine/planner/preset_store.delete_user_preset) user preset `name`, audited with the logged-in
    user: (message, picker options, picker value, versions options, versions value)."""
    if not isinstance(name, str) or not name:
        return _error("Pick a user preset to delete."), no_update, no_update, no_update, no_update
    context = get_context()
    try:
        preset_store.delete_user_preset(context.store, context.clock.now(), web_actor(), name)
    except (PresetError, ValueError) as exc:
        return _error(f"Not deleted: {exc}"), no_update, no_update, no_update, no_update
    return _ok(f"Deleted {name!r}; its versions and the plans that used it stay in the history."), \
        *_refreshed(name, picked, None)


def write_outputs(trigger: object, clicks: dict[str, object], save_name: object, picked: object, sliders: object,
                  switch_ids: list[dict[str, str]], switches: object, numeric: object, selected: object,
                  new_name: object) -> tuple[Any, ...]:
    """The one callback behind Save, Rename and the delete dialog's confirm: (save message, picker options,
    versions options, versions value, rename/delete message, picker value, delete dialog open)."""
    nothing: tuple[Any, ...] = (no_update,) * 7
    if not isinstance(trigger, str) or not is_click(clicks.get(trigger)):
        return nothing if trigger != ids.DELETE_CONFIRM else (*nothing[:6], False)
    if trigger == ids.SAVE:
        return (*save_outputs(save_name, picked, sliders, switch_ids, switches, numeric), no_update, no_update,
                no_update)
    if trigger == ids.RENAME:
        message, options, value, users, selected_now = rename_preset_outputs(selected, new_name, picked)
        return no_update, options, users, selected_now, message, value, no_update
    if trigger == ids.DELETE_CONFIRM:
        message, options, value, users, selected_now = delete_preset_outputs(selected, picked)
        return no_update, options, users, selected_now, message, value, False
    return nothing


# ---- regime → preset table ------------------------------------------------------------------------
def save_regime_table(ids: list[dict[str, str]], values: object) -> Any:
    if not isinstance(values, list) or len(values) != len(ids):
        return _error("The table is out of date; reload the page.")
    mapping = {i["name"]: v for i, v in zip(ids, values, strict=True)}
    if not all(isinstance(v, str) for v in mapping.values()):
        return _error("Every regime needs a preset.")
    context = get_context()
    try:
        preset_store.set_regime_preset_table(context.store, context.clock.now(), web_actor(), mapping)
    except (PresetError, ValueError) as exc:
        return _error(f"Not saved: {exc}")
    changed = ", ".join(f"{r} → {p}" for r, p in sorted(mapping.items()) if p != "default") or "every regime → default"
    return _ok(f"Saved: {changed}.")


# ---- stored plans ---------------------------------------------------------------------------------
def recent_outputs(shown: object, tab: object = "recent") -> tuple[Any, Any]:
    """The last stored plans, only while their tab is open and only when one was added or executed."""
    if tab != "recent":
        return no_update, no_update
    with get_context().store.read() as session:
        plans = preset_store.recent_plans(session, limit=20)
    stamp = pv.digest([(p.created_at, p.executed) for p in plans])
    if stamp == shown:
        return no_update, no_update
    return recent_plans_table(plans), stamp


def register_callbacks() -> None:
    """Called by pages/planner.py each time Dash executes the page for a new app (see planner_callbacks)."""

    # Save, Rename and confirmed Delete in one callback: each rewrites the preset picker and the versions selector
    # (options and value), and one callback, not three with duplicate outputs, owns the selector's value.
    @dash.callback(Output(ids.SAVE_MESSAGE, "children"), Output(ids.PRESET, "options"),
                   Output(ids.VERSIONS_NAME, "options"), Output(ids.VERSIONS_NAME, "value"),
                   Output(ids.MANAGE_MESSAGE, "children"), Output(ids.PRESET, "value", allow_duplicate=True),
                   Output(ids.DELETE_MODAL, "is_open", allow_duplicate=True),
                   Input(ids.SAVE, "n_clicks"), Input(ids.RENAME, "n_clicks"), Input(ids.DELETE_CONFIRM, "n_clicks"),
                   State(ids.SAVE_NAME, "value"), State(ids.PRESET, "value"),
                   State({"type": ids.SLIDER, "name": ALL}, "value"), State({"type": ids.SWITCH, "name": ALL}, "id"),
                   State({"type": ids.SWITCH, "name": ALL}, "value"), State(ids.OVERRIDES, "data"),
                   State(ids.VERSIONS_NAME, "value"), State(ids.RENAME_NAME, "value"), prevent_initial_call=True)
    @requires(Role.TRADER)
    def save_preset(n: int | None, rename_n: int | None, delete_n: int | None, save_name: str | None, picked: str,
                    sliders: list[float], switch_ids: list[dict[str, str]], switches: list[bool],
                    overrides: dict[str, object] | None, selected: str | None, new_name: str | None) -> Any:
        return write_outputs(ctx.triggered_id, {ids.SAVE: n, ids.RENAME: rename_n, ids.DELETE_CONFIRM: delete_n},
                             save_name, picked, sliders, switch_ids, switches, overrides, selected, new_name)

    @dash.callback(Output(ids.DELETE_MODAL, "is_open"), Output(ids.DELETE_BODY, "children"),
                   Output(ids.DELETE_CONFIRM, "disabled"),
                   Input(ids.DELETE, "n_clicks"), Input(ids.DELETE_CANCEL, "n_clicks"),
                   State(ids.VERSIONS_NAME, "value"), prevent_initial_call=True)
    @requires(Role.TRADER)
    def ask_delete(_open: int | None, _cancel: int | None, name: str | None) -> Any:
        if ctx.triggered_id != ids.DELETE or not is_click(_open):
            return False, no_update, no_update
        return delete_dialog(name)

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

    @dash.callback(Output(ids.REGIME_MESSAGE, "children"), Input(ids.REGIME_SAVE, "n_clicks"),
                   State({"type": ids.REGIME, "name": ALL}, "id"),
                   State({"type": ids.REGIME, "name": ALL}, "value"), prevent_initial_call=True)
    @requires(Role.TRADER)
    def save_regimes(n: int | None, ids: list[dict[str, str]], values: list[str]) -> Any:
        if not is_click(n) or not triggered_by_click(ctx.triggered):
            return no_update
        return save_regime_table(ids, values)

    @dash.callback(Output(ids.RECENT, "children"), Output(ids.RECENT_PRINT, "data"),
                   Input(ids.INTERVAL, "n_intervals"), Input(ids.TABS, "active_tab"),
                   State(ids.RECENT_PRINT, "data"))
    @requires(Role.VIEWER)
    def show_recent(_n: int | None, tab: str | None, shown: str | None) -> Any:
        return recent_outputs(shown, tab)
