"""Parameters: edit the 31-sheet strategy workbook one sheet at a time, upload/download it, and
manage its immutable versions (apply, diff, roll back), every change audited.

Only the selected sheet is rendered (a few dozen editors or one grid per table) so the page stays
fast with thousands of values. The browser holds only the pending edits (key -> value as typed);
the server re-validates the whole set through the engine on every change and again on Apply.
"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import ALL, MATCH, Input, Output, State, ctx, dcc, html, no_update

from components import param_chrome as chrome
from components import param_editor as ui
from components.ids import parameters as ids
from components.shell import page_header, read_only_note
from engine.auth import principal
from engine.auth.roles import Role
from engine.params.diff import diff_params
from engine.params.schema import GROUPS
from webapp import (
    param_access,
    param_apply_callbacks,
    param_base,
    param_issue_text,
    param_rows,
    param_search,
    param_version_callbacks,
    tuning_views,
)
from webapp import param_views as pv
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.market_time import timezone_alert

dash.register_page(__name__, path="/parameters", name="Parameters", order=2)
param_version_callbacks.register_callbacks()  # downloads and the versions panel
param_apply_callbacks.callbacks.register()  # apply (with its confirm dialog) and upload
tuning_views.register_parameters_callbacks()  # issue 16: tuning proposals and validation

FIRST_SHEET = "MasterConfiguration"
POLL_MS = 5000  # how often the page checks whether someone else applied a version


def layout(**_kwargs: object) -> html.Div:
    schema = pv.schema()
    counts = param_search.usage_counts(schema)
    used, total = counts["*"]
    groups: dict[str, list] = {g: [] for g in GROUPS}
    for sh in schema.sheets:
        groups.setdefault(sh.group, []).append(sh)
    may = param_access.permits(principal.current().role)  # the roles the guard enforces on these callbacks
    needed = sorted({p.needed for p in may.values() if not p.allowed})
    return html.Div([
        html.Div() if not needed else read_only_note(
            "parameters-read-only", "Read-only for your role: you can explore and preview edits; applying, "
            f"uploading and rolling back versions need the {' or '.join(needed)} role."),
        page_header("Parameters", f"{total} parameters and table columns in {param_search.sheet_count_text(schema)}: "
                                  f"{used} used by the engine, {total - used} not used"),
        dcc.Store(id=ids.SHEET, data=FIRST_SHEET),
        dcc.Store(id=ids.LAYOUT, data=0),  # bumped when table rows are added or deleted: re-render
        dcc.Store(id=ids.EDITS, data={}, storage_type="session"),  # survives a visit to the Regime what-if
        dcc.Store(id=ids.UPLOAD_DATA, data=None, storage_type="session"),
        dcc.Store(id=ids.BASE, data=param_base.active_ref(get_context().store), storage_type="session"),
        dcc.Download(id=ids.DOWNLOAD),
        chrome.confirm_dialog(ids.APPLY, "Apply a new parameter version", ids.APPLY_BODY, "Apply"),
        chrome.confirm_dialog(ids.ROLLBACK, "Roll back", ids.ROLLBACK_BODY, "Roll back"),
        dcc.Interval(id=ids.POLL, interval=POLL_MS),
        html.Div(id=ids.ACTIVE, className="small mb-2"),
        html.Div(id=ids.STALE),
        timezone_alert("parameters-market-timezone"),
        dbc.Row([
            dbc.Col([
                dbc.Input(id=ids.SEARCH, type="search", placeholder="search all parameters", size="sm",
                          debounce=True),
                html.Div(id=ids.SEARCH_RESULTS, className="my-1",
                         style={"maxHeight": "300px", "overflowY": "auto"}),
                chrome.sheet_nav(groups, counts),
            ], md=3),
            dbc.Col([
                chrome.toolbar(may[param_access.APPLY].title, may[param_access.UPLOAD].title),
                html.Div(id=ids.MESSAGE, className="small mb-1"),
                dcc.Loading(html.Div(id=ids.UPLOAD_RESULT), type="default"),
                param_version_callbacks.versions_panel(may[param_access.ROLLBACK].title),
                tuning_views.tuning_card(),  # issue 16: tuning proposals and walk-forward validation
                html.Div(id=ids.PENDING, className="mb-2"),
                html.Div(id=ids.EDITOR),
            ], md=9),
        ]),
    ])


# --- navigation --------------------------------------------------------------------------------
@dash.callback(Output(ids.SEARCH_RESULTS, "children"), Input(ids.SEARCH, "value"))
@requires(Role.VIEWER)
def show_search(text: str | None):
    hits, total = param_search.search(pv.schema(), text or "")
    return chrome.search_hits(hits, total) if text and text.strip() else None


@dash.callback(
    Output(ids.SHEET, "data"),
    Input({"type": ids.SHEET_LINK, "sheet": ALL}, "n_clicks"),
    Input({"type": ids.SEARCH_HIT, "sheet": ALL, "name": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
@requires(Role.VIEWER)
def select_sheet(_links: list, _hits: list):
    if not ctx.triggered or not ctx.triggered[0].get("value"):
        return no_update
    return ctx.triggered_id["sheet"]


@dash.callback(
    Output(ids.EDITOR, "children"),
    Input(ids.SHEET, "data"), Input(ids.BASE, "data"),
    Input(ids.UPLOAD_DATA, "data"), Input(ids.LAYOUT, "data"), State(ids.EDITS, "data"),
)
@requires(Role.VIEWER)
def render_sheet(sheet: str, base_ref: dict, upload: dict | None, _layout: int | None, edits: dict):
    """Re-rendered after Discard too: collect_edits clears edits and upload in one response, which lands first."""
    schema = pv.schema()
    base = param_base.load_base(get_context().store, (base_ref or {}).get("version_id"))
    edits, _dropped = param_rows.live_edits(schema, pv.origin_sheets(base, upload), edits or {})  # rebase_edits
    sheets = pv.candidate_sheets(base, edits, upload)
    _ps, issues = pv.validate_candidate(schema, sheets)
    errors = param_issue_text.issues_by_key(schema, sheets, [i for i in issues if i.sheet == sheet])
    return ui.sheet_body(schema.sheet(sheet), sheets[sheet], errors, set(edits or {}),
                         param_search.usage_counts(schema)[sheet])


@dash.callback(
    Output({"type": ids.SLIDER, "name": MATCH}, "value"),
    Output({"type": ids.VALUE, "name": MATCH}, "value"),
    Input({"type": ids.SLIDER, "name": MATCH}, "value"),
    Input({"type": ids.VALUE, "name": MATCH}, "value"),
    prevent_initial_call=True,
)
@requires(Role.VIEWER)
def sync_slider(slider: float | None, typed: str | float | None):
    """Slider and typed input show the same number; a typed text that is no finite number leaves the slider alone
    (the validator reports it under the input)."""
    if ctx.triggered_id and ctx.triggered_id["type"] == ids.SLIDER:
        return no_update, ui.cell_text(slider) if isinstance(slider, int | float) else slider
    number = ui.typed_number(typed)
    return (no_update if number is None else ui.cell_text(number)), no_update


# --- pending edits -------------------------------------------------------------------------------
@dash.callback(
    Output(ids.EDITS, "data"),
    Output(ids.UPLOAD_DATA, "data", allow_duplicate=True),
    Output(ids.MESSAGE, "children", allow_duplicate=True),
    Input({"type": ids.VALUE, "name": ALL}, "value"),
    Input({"type": ids.GRID, "name": ALL}, "cellValueChanged"),
    Input(ids.DISCARD, "n_clicks"),
    State(ids.BASE, "data"), State(ids.EDITS, "data"), State(ids.UPLOAD_DATA, "data"),
    prevent_initial_call=True,
)
@requires(Role.VIEWER)
def collect_edits(_values: list, _cells: list, _discard: int | None, base_ref: dict, edits: dict,
                  upload: dict | None):
    """Only the inputs that fired are merged: a grid's cellValueChanged is an event, not the cell's current value.

    Dash also calls this with nothing triggered when re-rendering removes editors ("final call"); that call must
    not replay old events over a Discard, so it changes nothing.
    """
    if ctx.triggered_id == ids.DISCARD:
        return {}, None, None
    fired = [(id_, prop_id.rsplit(".", 1)[1]) for prop_id, id_ in ctx.triggered_prop_ids.items()]
    if not fired:
        return no_update, no_update, no_update
    schema = pv.schema()
    base = param_base.load_base(get_context().store, (base_ref or {}).get("version_id"))
    origin = pv.origin_sheets(base, upload)
    new, refused = dict(edits if isinstance(edits, dict) else {}), []
    for item in ctx.inputs_list[0]:
        if (item["id"], item["property"]) in fired:
            try:  # each edit is checked on arrival: a refused one is named, the stored edits stay as they were
                new = pv.merge_edit(schema, origin, new, item["id"]["name"], item.get("value"))
            except pv.EditsRefused as exc:
                refused.append(str(exc))
    for item in ctx.inputs_list[1]:
        if (item["id"], item["property"]) not in fired:
            continue
        events = item.get("value") or []
        for ev in events if isinstance(events, list) else [events]:
            try:
                key = pv.grid_edit_key(item["id"]["name"], ev)
                new = pv.merge_edit(schema, origin, new, key, ev.get("value"))
            except pv.EditsRefused as exc:
                refused.append(str(exc))
    message = html.Span(" ".join(refused), className="text-danger") if refused else None
    if refused:  # stored again even when unchanged: show_pending then redraws the grids, so a refused cell shows
        return new, no_update, message  # the value in force again instead of the text that was not taken
    if new == (edits or {}):
        return no_update, no_update, no_update
    return new, no_update, message  # a new edit: the last Apply's result line no longer describes the page


@dash.callback(
    Output(ids.EDITS, "data", allow_duplicate=True),
    Output(ids.MESSAGE, "children", allow_duplicate=True),
    Input(ids.BASE, "data"),
    State(ids.EDITS, "data"), State(ids.UPLOAD_DATA, "data"), State(ids.MESSAGE, "children"),
    prevent_initial_call="initial_duplicate",
)
@requires(Role.VIEWER)
def rebase_edits(base_ref: dict, edits: dict, upload: dict | None, message: object):
    """Edits follow their rows onto the version the page now shows (also on load: the session may hold old-form
    edits); an edit whose row is gone is dropped, named in the message. On a new version the pending panel redraws."""
    base = param_base.load_base(get_context().store, (base_ref or {}).get("version_id"))
    kept, dropped = param_rows.live_edits(pv.schema(), pv.origin_sheets(base, upload), edits or {})
    if not dropped:
        return (no_update, no_update) if ctx.triggered_id is None else (kept, no_update)
    note = html.Span(param_rows.dropped_message(dropped), className="text-warning")
    return kept, [message, " ", note] if message else note


@dash.callback(
    Output(ids.EDITS, "data", allow_duplicate=True),
    Output(ids.LAYOUT, "data"),
    Output(ids.MESSAGE, "children", allow_duplicate=True),
    Input({"type": ids.ROW_ADD, "name": ALL}, "n_clicks"),
    Input({"type": ids.ROW_DELETE, "name": ALL}, "n_clicks"),
    State({"type": ids.GRID, "name": ALL}, "selectedRows"),
    State(ids.BASE, "data"), State(ids.EDITS, "data"), State(ids.UPLOAD_DATA, "data"),
    State(ids.LAYOUT, "data"),
    prevent_initial_call=True,
)
@requires(Role.VIEWER)
def change_rows(_adds: list, _deletes: list, selections: list, base_ref: dict, edits: dict, upload: dict | None,
                layout: int | None):
    """Add a blank row / delete the selected row of a table; the sheet re-renders with the new rows."""
    if not ctx.triggered_id or not ctx.triggered[0].get("value"):
        return no_update, no_update, no_update  # Dash's final call when a re-render removes the buttons
    kind, name = ctx.triggered_id["type"], ctx.triggered_id["name"]
    sheet, section = name.split("|")
    base = param_base.load_base(get_context().store, (base_ref or {}).get("version_id"))
    origin = pv.origin_sheets(base, upload)
    if kind == ids.ROW_ADD:
        new = param_rows.add_row(pv.schema(), origin, edits or {}, sheet, section)
    else:
        picked = next((st.get("value") for st in ctx.states_list[0] if st["id"]["name"] == name), None) or []
        if not picked:
            return no_update, no_update, html.Span("select a row of the table first (click it), then Delete",
                                                   className="text-warning")
        new = param_rows.delete_row(pv.schema(), origin, edits or {}, sheet, section, int(picked[0]["__row"]))
    return new, (layout or 0) + 1, None


@dash.callback(
    Output(ids.PENDING, "children"), Output(ids.APPLY, "disabled"),
    Output(ids.PENDING_COUNT, "children"),
    Output({"type": ids.ERROR, "name": ALL}, "children"),
    Output({"type": ids.GRID, "name": ALL}, "rowTransaction"),
    Input(ids.EDITS, "data"), Input(ids.UPLOAD_DATA, "data"),
    State(ids.BASE, "data"), State(ids.SHEET, "data"),
)
@requires(Role.VIEWER)
def show_pending(edits: dict, upload: dict | None, base_ref: dict, sheet: str):
    schema = pv.schema()
    base = param_base.load_base(get_context().store, (base_ref or {}).get("version_id"))
    edits, _dropped = param_rows.live_edits(schema, pv.origin_sheets(base, upload), edits or {})  # rebase_edits
    sheets = pv.candidate_sheets(base, edits, upload)
    ps, issues = pv.validate_candidate(schema, sheets)
    errors = param_issue_text.issues_by_key(schema, sheets, issues)
    error_divs = [errors.get(o["id"]["name"], "") for o in ctx.outputs_list[3]]
    grids = []
    for o in ctx.outputs_list[4]:
        gsheet, section = o["id"]["name"].split("|")
        fields = schema.sheet(gsheet).section(section).fields
        grids.append({"update": ui.grid_rows(fields, sheets[gsheet][section], gsheet, section, errors)})
    if upload:  # an upload replaces the version it was checked against (the active one then), so diff with that
        checked = upload.get("base_version")
        onto = param_base.load_base(get_context().store, checked) if isinstance(checked, int) else base
        rows = pv.change_rows(diff_params(onto, ps)) if ps is not None else []
        title = (f"Uploaded {upload.get('filename') or 'workbook'}: {pv.count_of(len(rows), 'change')} against version "
                 f"{onto.version_id or '(defaults)'}")
    else:
        rows = pv.pending_rows(schema, pv.origin_sheets(base, None), edits, errors, sheets)
        title = pv.count_of(len(rows), "pending edit")
    if not rows and not upload:
        return None, True, "no pending edits", error_divs, grids
    may_apply = param_access.permit(principal.current().role, param_access.APPLY).allowed
    panel = dbc.Card(dbc.CardBody([
        html.H6(title),
        chrome.diff_table(rows, "the upload equals the active version"),
        chrome.issues_by_sheet([i.to_dict() for i in issues],
                           f"{pv.count_of(len(issues), 'problem')}: fix them before applying; nothing was changed")
        if issues else None,
    ]), color="warning", outline=True, id=ids.PENDING_CARD)
    # nothing changed, or a role that may not apply (the guard refuses it anyway): no Apply
    return panel, not may_apply or bool(issues) or ps is None or not rows, title, error_divs, grids
