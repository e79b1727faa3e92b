"""Planner page, User presets tab: save, rename and delete user presets (layout: pages/planner.py; ids:
webapp/planner_ids.py). A save keeps base + sliders + switches + overrides as a new version; rename and delete act
on the preset picked in the versions selector. One callback owns all three writes; after each one that changed
the list of presets it writes the "presets changed" store (ids.PRESETS_CHANGED), on which every other preset
picker of the page refreshes (webapp/planner_pickers.py). The versions panel (list, diff, restore) is
webapp/planner_preset_versions.py's. Every write is audited with the logged-in user
(engine/planner/preset_store.py records it; webapp.control_actions.web_actor names them)."""
from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Input, Output, State, ctx, html, no_update

from engine.auth.roles import Role
from engine.planner import api, preset_store
from engine.planner.api import PresetError
from webapp import planner_ids as ids
from webapp import planner_preview as pv
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.control_actions import web_actor
from webapp.inputs import is_click
from webapp.planner_overrides import checked_overrides
from webapp.planner_views import error_text, ok_text, preset_options

NAME_LIMIT = 64


def user_preset_options() -> list[dict[str, str]]:
    return [{"label": n, "value": n} for n in pv.all_presets() if n not in api.BUILT_IN_PRESETS]


MALFORMED_SWITCHES = "Planner page: the module switches are malformed; reload the page"


def switch_values(switch_ids: object, switches: object) -> dict[str, object] | None:
    """The module switches as {name: value}, from the pattern-matching ids and values Dash sends side by side.
    Both are checked first (lists of the same length, each id a dict with a text name): a forged pair gets a
    PresetError a trader can act on, never zip()'s or a subscript's Python message. None: no switches sent.
    The plan preview (webapp/planner_callbacks.py) and the overrides panel read the same pair this way."""
    if switches is None:
        return None
    if (not isinstance(switch_ids, list) or not isinstance(switches, list) or len(switch_ids) != len(switches)
            or not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in switch_ids)):
        raise PresetError(MALFORMED_SWITCHES)
    return {i["name"]: v for i, v in zip(switch_ids, switches, strict=True)}


def saved_name(save_name: object) -> str:
    """The name a save stores under: a live user preset's exact name as stored (a name saved before today's name
    rules keeps working), else the typed name normalised and checked (preset_store.checked_name)."""
    typed = save_name.strip() if isinstance(save_name, str) else ""
    if typed and typed in pv.all_presets() and typed not in api.BUILT_IN_PRESETS:
        return typed
    return preset_store.checked_name(save_name)


def save_user_preset(save_name: object, picked: object, sliders: object, switch_ids: list[dict[str, str]],
                     switches: object, numeric: object = None) -> tuple[Any, Any, Any]:
    """Save base + sliders + overrides (switches that differ from the base, and the overrides editor's values) as
    a new version of `save_name`, audited with the logged-in user: (message, picker options, versions options).
    Everything is checked before the store is touched: a refused value saves nothing."""
    try:  # the store's rules: length, no invisible characters, no look-alike of a built-in (NFKC + casefold)
        name = saved_name(save_name)
    except PresetError as exc:
        return error_text(f"Not saved: {exc}."), no_update, no_update
    presets = pv.all_presets()
    try:
        values = switch_values(switch_ids, switches)
        composed = pv.composed_preset(presets, picked, sliders, values, numeric)  # checks every value first
        root = pv.root_preset(presets, str(picked))
        overrides = {**pv.switch_overrides(root, values), **checked_overrides(numeric)}
        context = get_context()
        version = preset_store.save_user_preset(context.store, context.clock.now(), web_actor(), name, root.name,
                                                dict(composed.sliders), overrides)
        pv.forget_presets()
    except (PresetError, ValueError, TypeError) as exc:
        return error_text(f"Not saved: {exc}"), no_update, no_update
    return (ok_text(f"Saved {name!r} version {version} (base {root.name}); it is in the preset picker."),
            preset_options(list(pv.all_presets())), user_preset_options())


def save_outputs(save_name: object, picked: object, sliders: object, switch_ids: list[dict[str, str]],
                 switches: object, numeric: object = None) -> tuple[Any, Any, Any, Any]:
    """save_user_preset plus the versions selector's value: after a save it selects the saved preset, so the
    versions panel below shows its versions instead of staying empty (the options alone select nothing)."""
    message, presets, users = save_user_preset(save_name, picked, sliders, switch_ids, switches, numeric)
    if users is no_update or not isinstance(save_name, str):
        return message, presets, users, no_update
    return message, presets, users, saved_name(save_name)  # as stored: "my  preset" was saved as "my preset"


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
        return error_text("Pick a user preset to rename."), no_update, no_update, no_update, no_update
    if not isinstance(new_name, str) or not new_name.strip() or len(new_name.strip()) > NAME_LIMIT:
        return (error_text(f"Not renamed: the new name needs 1 to {NAME_LIMIT} characters."), no_update, no_update,
                no_update, no_update)
    context = get_context()
    try:
        new = preset_store.rename_user_preset(context.store, context.clock.now(), web_actor(), name, new_name)
    except (PresetError, ValueError) as exc:
        return error_text(f"Not renamed: {exc}"), no_update, no_update, no_update, no_update
    return (ok_text(f"Renamed {name!r} to {new!r}; its versions came along, the old name's history stays in the audit."),
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
        return True, error_text(f"{name!r} cannot be deleted: the regime → preset table maps {', '.join(regimes)} "
                                "to it. Map them to another preset first."), True
    return True, html.Div([
        html.Div(f"Delete user preset {name!r}? It leaves the preset picker."),
        html.Div(f"Its {count} version(s), their audit events and the stored plans that name it stay readable.",
                 className="small text-muted")]), False


def delete_preset_outputs(name: object, picked: object = None) -> tuple[Any, Any, Any, Any, Any]:
    """Delete (soft: engine/planner/preset_store.delete_user_preset) user preset `name`, audited with the logged-in
    user: (message, picker options, picker value, versions options, versions value)."""
    if not isinstance(name, str) or not name:
        return error_text("Pick a user preset to delete."), no_update, no_update, no_update, no_update
    context = get_context()
    try:
        preset_store.delete_user_preset(context.store, context.clock.now(), web_actor(), name)
    except (PresetError, ValueError) as exc:
        return error_text(f"Not deleted: {exc}"), no_update, no_update, no_update, no_update
    return ok_text(f"Deleted {name!r}; its versions and the plans that used it stay in the history."), \
        *_refreshed(name, picked, None)


def presets_changed(shown: object, old: str | None, new: str | None) -> dict[str, Any]:
    """The next "presets changed" event after the one in the store (`shown`, from the browser: checked): a count
    that always moves, so each write wakes the other pickers, and what happened: a save (old None, new the name),
    a rename (old → new) or a delete (old, new None)."""
    count = shown.get("n") if isinstance(shown, dict) else None
    count = count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else 0
    return {"n": count + 1, "old": old, "new": new}


def write_outputs(trigger: object, clicks: dict[str, object], save_name: object, picked: object, sliders: object,
                  switch_ids: list[dict[str, str]], switches: object, numeric: object, selected: object,
                  new_name: object, shown: object = None) -> tuple[Any, ...]:
    """The one callback behind Save, Rename and the delete dialog's confirm: (save message, picker options,
    versions options, versions value, rename/delete message, picker value, delete dialog open, presets changed).
    The last is a new presets_changed event after a write that went through (`shown` is the store's last one),
    else no_update."""
    nothing: tuple[Any, ...] = (no_update,) * 8
    if not isinstance(trigger, str) or not is_click(clicks.get(trigger)):
        return nothing if trigger != ids.DELETE_CONFIRM else (*nothing[:6], False, no_update)
    if trigger == ids.SAVE:
        message, options, users, saved = save_outputs(save_name, picked, sliders, switch_ids, switches, numeric)
        changed = no_update if users is no_update else presets_changed(shown, None, saved)
        return message, options, users, saved, no_update, no_update, no_update, changed
    if trigger == ids.RENAME:
        message, options, value, users, selected_now = rename_preset_outputs(selected, new_name, picked)
        changed = no_update if options is no_update else presets_changed(shown, str(selected), selected_now)
        return no_update, options, users, selected_now, message, value, no_update, changed
    if trigger == ids.DELETE_CONFIRM:
        message, options, value, users, selected_now = delete_preset_outputs(selected, picked)
        changed = no_update if options is no_update else presets_changed(shown, str(selected), None)
        return no_update, options, users, selected_now, message, value, False, changed
    return nothing


def register_callbacks() -> None:
    """Called by pages/planner.py each time Dash executes the page for a new app (see planner_callbacks)."""

    # Save, Rename and confirmed Delete in one callback: each rewrites the preset picker and the versions selector
    # (options and value), and one callback, not three with duplicate outputs, owns the selector's value and the
    # "presets changed" store the other pickers listen to.
    @dash.callback(Output(ids.SAVE_MESSAGE, "children"), Output(ids.PRESET, "options"),
                   Output(ids.VERSIONS_NAME, "options"), Output(ids.VERSIONS_NAME, "value"),
                   Output(ids.MANAGE_MESSAGE, "children"), Output(ids.PRESET, "value", allow_duplicate=True),
                   Output(ids.DELETE_MODAL, "is_open", allow_duplicate=True), Output(ids.PRESETS_CHANGED, "data"),
                   Input(ids.SAVE, "n_clicks"), Input(ids.RENAME, "n_clicks"), Input(ids.DELETE_CONFIRM, "n_clicks"),
                   State(ids.SAVE_NAME, "value"), State(ids.PRESET, "value"),
                   State({"type": ids.SLIDER, "name": ALL}, "value"), State({"type": ids.SWITCH, "name": ALL}, "id"),
                   State({"type": ids.SWITCH, "name": ALL}, "value"), State(ids.OVERRIDES, "data"),
                   State(ids.VERSIONS_NAME, "value"), State(ids.RENAME_NAME, "value"),
                   State(ids.PRESETS_CHANGED, "data"), prevent_initial_call=True)
    @requires(Role.TRADER)
    def save_preset(n: int | None, rename_n: int | None, delete_n: int | None, save_name: str | None, picked: str,
                    sliders: list[float], switch_ids: list[dict[str, str]], switches: list[bool],
                    overrides: dict[str, object] | None, selected: str | None, new_name: str | None,
                    shown: dict[str, Any] | None) -> Any:
        return write_outputs(ctx.triggered_id, {ids.SAVE: n, ids.RENAME: rename_n, ids.DELETE_CONFIRM: delete_n},
                             save_name, picked, sliders, switch_ids, switches, overrides, selected, new_name, shown)

    @dash.callback(Output(ids.DELETE_MODAL, "is_open"), Output(ids.DELETE_BODY, "children"),
                   Output(ids.DELETE_CONFIRM, "disabled"),
                   Input(ids.DELETE, "n_clicks"), Input(ids.DELETE_CANCEL, "n_clicks"),
                   State(ids.VERSIONS_NAME, "value"), prevent_initial_call=True)
    @requires(Role.TRADER)
    def ask_delete(_open: int | None, _cancel: int | None, name: str | None) -> Any:
        if ctx.triggered_id != ids.DELETE or not is_click(_open):
            return False, no_update, no_update
        return delete_dialog(name)
