"""Planner page: keeps the preset pickers outside the User presets tab (the comparison's two, the regime → preset
table's one per regime) in step with the store when a user preset is saved, renamed or deleted, without a reload.

webapp/planner_preset_callbacks.py writes the "presets changed" store (ids.PRESETS_CHANGED: {"n", "old", "new"})
after each such write; each callback here reads it, gives its pickers the current list of presets, moves a picker
that was on a renamed preset to the new name and clears one that was on a deleted preset, and says so in the
tab's note (a cleared comparison shows nothing; a cleared regime row must be picked again before the table can
be saved). The preset picker and the versions selector are refreshed by the write callback itself.

A change made in another browser tab (or by another user) sends this page no event: the pickers also read the list
again whenever the trader switches the page's tab, so the tab they turn to shows the store's presets (a picker on a
preset that is gone is cleared with a note; one renamed elsewhere is followed to its new name through the store's
rename trail, engine/planner/preset_renames.py)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash
from dash import ALL, Input, Output, State, html, no_update

from engine.auth.roles import Role
from engine.planner import preset_renames, preset_store
from webapp import planner_ids as ids
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.planner_views import preset_options

REGIME_PICKERS = {"type": ids.REGIME, "name": ALL}
NAME_CHARS = 80  # a name from the browser is shown at most this long


def _event(changed: object) -> tuple[str | None, str | None] | None:
    """(old, new) of a "presets changed" event, None when it is malformed (it comes from the browser)."""
    if not isinstance(changed, dict) or not isinstance(changed.get("n"), int):
        return None
    old, new = changed.get("old"), changed.get("new")
    if not (old is None or isinstance(old, str)) or not (new is None or isinstance(new, str)):
        return None
    return old, new


def follow(value: object, old: str | None, new: str | None, names: Sequence[str],
           renamed: str | None = None) -> tuple[Any, str | None]:
    """(new value, what happened) for a picker on `value` after the event old → new: no_update and None while its
    preset still exists; the new name after a rename of it (this tab's event, or `renamed`: the name the store's
    rename trail leads to, for a rename made elsewhere); None (cleared) when its preset is gone."""
    if not isinstance(value, str) or value in names:
        return no_update, None
    shown = repr(value[:NAME_CHARS])
    if value == old and new is None:
        return None, f"{shown} was deleted; the picker is cleared, pick another preset."
    if value == old and new in names:
        return new, f"{shown} was renamed to {new!r}; the picker follows it."
    if renamed is not None and renamed in names:
        return renamed, f"{shown} was renamed to {renamed!r} elsewhere; the picker follows it."
    return None, f"{shown} is no longer a preset; the picker is cleared, pick another preset."


def _note(lines: Sequence[str]) -> Any:
    return html.Div([html.Div(line) for line in lines], className="small text-warning") if lines else ""


def _names(values: Sequence[object]) -> tuple[list[str], dict[str, str | None]]:
    """(the presets as the store has them now, where each picked name that is gone went by renames): read
    directly, not from a memoized list another web worker may still hold for its query period."""
    with get_context().store.read() as session:
        names = list(preset_store.list_presets(session))
        live = frozenset(names)
        gone = {v for v in values if isinstance(v, str) and v not in live and len(v) <= NAME_CHARS}
        return names, {v: preset_renames.renamed_to(session, v, live) for v in sorted(gone)}


TAB_SWITCH: dict[str, Any] = {"n": 0, "old": None, "new": None}  # the event a tab switch stands for: no rename known


def pickers_outputs(changed: object, labels: Sequence[str], values: Sequence[object]) -> tuple[Any, list[Any], Any]:
    """(options, value of each picker, note) after the "presets changed" event `changed` (TAB_SWITCH: the trader
    turned to another tab), for pickers named `labels` (in the note) currently on `values`; all no_update for a
    malformed event. A tab switch that finds nothing gone leaves the note as it is."""
    event = _event(changed)
    if event is None or len(labels) != len(values):
        return no_update, [no_update] * len(values), no_update
    names, renames = _names(values)
    followed = [follow(value, *event, names, renames.get(value) if isinstance(value, str) else None)
                for value in values]
    notes = [f"{label}: {said}" for label, (_value, said) in zip(labels, followed, strict=True) if said]
    note = no_update if changed is TAB_SWITCH and not notes else _note(notes)
    return preset_options(names), [value for value, _said in followed], note


def _changed_or_tab(changed: object) -> object:
    """The event this run answers: TAB_SWITCH when the page's tab was switched, else the "presets changed" data."""
    return TAB_SWITCH if dash.ctx.triggered_id == ids.TABS else changed


def compare_outputs(changed: object, a: object, b: object) -> tuple[Any, ...]:
    """(A options, A value, B options, B value, note) of the comparison's two pickers."""
    options, (value_a, value_b), note = pickers_outputs(changed, ["Left", "Right"], [a, b])
    return options, value_a, options, value_b, note


def regime_outputs(changed: object, regime_ids: object, values: object) -> tuple[Any, Any, Any]:
    """(options of each row's picker, value of each, note) of the regime → preset table."""
    if not isinstance(regime_ids, list) or not isinstance(values, list) or len(regime_ids) != len(values) \
            or not all(isinstance(i, dict) for i in regime_ids):
        return no_update, no_update, no_update
    options, new_values, note = pickers_outputs(changed, [str(i.get("name")) for i in regime_ids], values)
    if options is no_update:
        return no_update, no_update, no_update
    return [options] * len(values), new_values, note


def register_callbacks() -> None:
    """Called by pages/planner.py each time Dash executes the page for a new app (see planner_callbacks)."""

    @dash.callback(Output(ids.COMPARE_A, "options"), Output(ids.COMPARE_A, "value"),
                   Output(ids.COMPARE_B, "options"), Output(ids.COMPARE_B, "value"),
                   Output(ids.COMPARE_NOTE, "children"),
                   Input(ids.PRESETS_CHANGED, "data"), Input(ids.TABS, "active_tab"),
                   State(ids.COMPARE_A, "value"), State(ids.COMPARE_B, "value"), prevent_initial_call=True)
    @requires(Role.VIEWER)
    def refresh_compare_pickers(changed: dict[str, Any] | None, _tab: str | None, a: str | None,
                                b: str | None) -> Any:
        return compare_outputs(_changed_or_tab(changed), a, b)

    @dash.callback(Output(REGIME_PICKERS, "options"), Output(REGIME_PICKERS, "value"),
                   Output(ids.REGIME_NOTE, "children"),
                   Input(ids.PRESETS_CHANGED, "data"), Input(ids.TABS, "active_tab"),
                   State(REGIME_PICKERS, "id"), State(REGIME_PICKERS, "value"), prevent_initial_call=True)
    @requires(Role.VIEWER)
    def refresh_regime_pickers(changed: dict[str, Any] | None, _tab: str | None, regime_ids: list[dict[str, str]],
                               values: list[str | None]) -> Any:
        return regime_outputs(_changed_or_tab(changed), regime_ids, values)
