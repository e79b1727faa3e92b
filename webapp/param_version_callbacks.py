"""Parameters page, second half: downloads (current, template, any version) and the versions panel
(list, diff any two, roll back with confirm, notice when another user applied a version): the panel's
layout and its callbacks.

Imported by pages/parameters.py, which places the panel beside the toolbar (components/param_chrome.py) and
calls register_callbacks(); every change goes through engine.params.versions with the acting user, so it is
audited there.
"""
from __future__ import annotations

import logging
from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html, no_update

from components import param_chrome as chrome
from components.ids import parameters as ids
from components.tables import column, records_grid
from engine.auth.roles import Role
from engine.params.errors import ParamsError, StaleVersionError, ValidationError
from engine.params.exporter import export_template, export_workbook
from engine.params.version_rollback import rollback_plan, rollback_with_report
from engine.params.versions import (
    count_versions,
    diff_versions,
    record_export,
)
from webapp import param_base
from webapp import param_views as pv
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.control_actions import web_actor
from webapp.form_ids import FormIdError, parse_id
from webapp.inputs import text_or_default, triggered_by_click
from webapp.wiring import Callbacks

log = logging.getLogger(__name__)
callbacks = Callbacks()  # registered by pages/parameters.py for each new app (register_callbacks)
_HEADER = {"wrapHeaderText": True, "autoHeaderHeight": True}  # a narrow column wraps its header, never "Ver…"
VERSION_COLUMNS: list[dict[str, Any]] = [
    column("id", "Version", minWidth=110, maxWidth=130, **_HEADER),
    column("active", "Active", minWidth=100, maxWidth=120, **_HEADER),
    column("created_at", "Time (UTC)", minWidth=170, **_HEADER),
    column("author", "Author", minWidth=130, **_HEADER),
    column("source", "Source", minWidth=110, **_HEADER),
    column("changes", "Changes", minWidth=115, maxWidth=140, **_HEADER),
    column("note", "Note", flex=2, minWidth=200, tooltipField="note", **_HEADER)]
PICK_PLACEHOLDER = "pick a version…"


def version_option(row: dict[str, Any]) -> dict[str, Any]:
    """A picker option short enough to read whole: version, time to the minute (UTC), source, author and whether it
    is active; the note (free text of any length) is the option's tooltip."""
    active = " (active)" if row.get("active") else ""
    label = f"v{row['id']}{active} · {str(row['created_at'])[:16]} UTC · {row['source']} · {row['author']}"
    return {"label": label, "value": str(row["id"]), "title": str(row.get("note") or "")}


def versions_panel(rollback_locked: str | None = None) -> dbc.Collapse:
    """Version list, diff of any two, download and roll back (hidden until toggled); `rollback_locked` is the reason
    the user's role may not roll back (the button is disabled, the reason is its tooltip), None if it may."""
    return dbc.Collapse(dbc.Card(dbc.CardBody([
        html.H6("Versions"),
        records_grid(ids.VERSIONS_GRID, VERSION_COLUMNS, height=240),
        dbc.Row([  # one row each: the pickers' labels (version · time · source · author) are read whole
            dbc.Col(dbc.InputGroup([dbc.InputGroupText("Diff"), dbc.Select(id=ids.DIFF_A),
                                    dbc.InputGroupText("→"), dbc.Select(id=ids.DIFF_B)], size="sm"), width=12),
            dbc.Col(dbc.InputGroup([dbc.InputGroupText("Version"),
                                    dbc.Select(id=ids.VERSION_PICK, placeholder=PICK_PLACEHOLDER,
                                               style={"minWidth": "22rem"}),
                                    dbc.Button("Download", id=ids.DOWNLOAD_VERSION, outline=True),
                                    chrome.locked(dbc.Button("Roll back to it…", id=ids.ROLLBACK, color="warning",
                                                         outline=True, disabled=rollback_locked is not None),
                                              rollback_locked)], size="sm", className="flex-nowrap"), width=12),
        ], className="g-2 my-2"),
        html.Div(id=ids.VERSION_DIFF, style={"maxHeight": "320px", "overflowY": "auto"}),
    ]), className="mb-3"), id=ids.VERSIONS_COLLAPSE, is_open=False)


# --- downloads -----------------------------------------------------------------------------------
@callbacks(
    Output(ids.DOWNLOAD, "data"),
    Output(ids.MESSAGE, "children", allow_duplicate=True),
    Input(ids.DOWNLOAD_CURRENT, "n_clicks"), Input(ids.DOWNLOAD_TEMPLATE, "n_clicks"),
    Input(ids.DOWNLOAD_VERSION, "n_clicks"),
    State(ids.VERSION_PICK, "value"),
    prevent_initial_call=True,
)
@requires(Role.VIEWER)
def download(_cur: int | None, _tpl: int | None, _ver: int | None, picked: str | None):
    """Export through the engine's exporter (formula-safe text); every download is audited."""
    context = get_context()
    if ctx.triggered_id == ids.DOWNLOAD_TEMPLATE:
        name = "MR_CONFIG_TEMPLATE.xlsx"
        record_export(context.store, web_actor(), None, f"download {name}", clock=context.clock)
        return dcc.send_bytes(export_template(), name), no_update
    try:
        picked_version = ctx.triggered_id == ids.DOWNLOAD_VERSION and picked not in (None, "")
        version_id = parse_id(picked, "the version to download", "version") if picked_version else None
        ps = pv.load_base(context.store, version_id)
    except (ParamsError, FormIdError) as exc:
        return no_update, html.Span(str(exc), className="text-danger")
    name = f"MR_CONFIG_v{ps.version_id or 'defaults'}.xlsx"
    try:
        data = export_workbook(ps)
    except Exception:  # noqa: BLE001 - a stored version that cannot be written is a message, never a 500
        log.exception("export of parameter version %s failed", ps.version_id)
        return no_update, html.Span(f"version {ps.version_id} could not be written as a workbook; the error is in "
                                    "the server log", className="text-danger")
    record_export(context.store, web_actor(), ps.version_id, f"download {name}", clock=context.clock)
    return dcc.send_bytes(data, name), no_update


# --- versions ------------------------------------------------------------------------------------
@callbacks(
    Output(ids.VERSIONS_COLLAPSE, "is_open"), Input(ids.VERSIONS_TOGGLE, "n_clicks"),
    State(ids.VERSIONS_COLLAPSE, "is_open"), prevent_initial_call=True,
)
@requires(Role.VIEWER)
def toggle_versions(_n: int, is_open: bool):
    return not is_open


@callbacks(
    Output(ids.VERSIONS_GRID, "rowData"), Output(ids.ACTIVE, "children"),
    Output(ids.DIFF_A, "options"), Output(ids.DIFF_B, "options"),
    Output(ids.VERSION_PICK, "options"),
    Output(ids.DIFF_A, "value"), Output(ids.DIFF_B, "value"),
    Output(ids.VERSION_PICK, "value"),
    Input(ids.BASE, "data"),
)
@requires(Role.VIEWER)
def show_versions(_base: dict):
    """The list, the diff pickers (previous -> newest) and the download/rollback picker, which preselects nothing:
    its first option is the active version, and rolling back to that changes nothing."""
    rows = pv.version_rows(get_context().store)
    options = [version_option(r) for r in rows]
    active = next((r for r in rows if r["active"]), None)
    if active is None:
        info = html.Span("No version applied yet: the engine runs on the schema defaults.", className="text-muted")
    else:
        _ps, problems = param_base.load_base_checked(get_context().store, None)
        info = html.Span([dbc.Badge(f"active version {active['id']}", color="primary", className="me-2",
                                    id=ids.ACTIVE_VERSION),
                          f"{active['created_at']} UTC by {active['author']} ({active['source']}) {active['note']}",
                          dbc.Alert(param_base.unloadable_note(active["id"], problems), color="danger",
                                    className="small py-2 mt-2") if problems else None])
    a = options[1]["value"] if len(options) > 1 else None
    b = options[0]["value"] if options else None
    shown = html.Div([info, _older_note(len(rows))])
    return rows, shown, options, options, options, a, b, ""  # "": the placeholder, not the first option


@callbacks(
    Output(ids.STALE, "children"), Input(ids.POLL, "n_intervals"), Input(ids.BASE, "data"),
)
@requires(Role.VIEWER)
def check_stale(_n: int | None, base_ref: dict):
    """Tell the user when another user, the CLI or a rollback made a newer version active."""
    latest = param_base.active_ref(get_context().store)
    if latest["version_id"] == (base_ref or {}).get("version_id"):
        return None
    return dbc.Alert([f"Version {latest['version_id']} is now active; this page shows version "
                      f"{(base_ref or {}).get('version_id')}. ",
                      dbc.Button("Load the active version (keeps your edits)", id=ids.LOAD_LATEST,
                                 size="sm", color="warning", n_clicks=0)],
                     color="warning", className="small py-2")


@callbacks(
    Output(ids.BASE, "data", allow_duplicate=True), Input(ids.LOAD_LATEST, "n_clicks"),
    prevent_initial_call=True,
)
@requires(Role.VIEWER)
def load_latest(n: int | None):
    return param_base.active_ref(get_context().store) if n else no_update


@callbacks(
    Output(ids.VERSION_DIFF, "children"),
    Input(ids.DIFF_A, "value"), Input(ids.DIFF_B, "value"),
)
@requires(Role.VIEWER)
def show_version_diff(a: str | None, b: str | None):
    if a in (None, "") or b in (None, ""):
        return html.Div("pick two versions to compare", className="text-muted small")
    try:
        first = parse_id(a, "the diff's first version", "version")
        second = parse_id(b, "the diff's second version", "version")
        with get_context().store.read() as s:
            changes = diff_versions(s, first, second)
    except (FormIdError, ParamsError) as exc:  # a forged pick, or a version that does not exist
        return html.Div(str(exc), className="text-danger small")
    return chrome.diff_table(pv.change_rows(changes), f"versions {first} and {second} hold the same values")


@callbacks(
    Output(ids.ROLLBACK_MODAL, "is_open"), Output(ids.ROLLBACK_BODY, "children"),
    Output(ids.MESSAGE, "children", allow_duplicate=True),
    Output(ids.BASE, "data", allow_duplicate=True),
    Output(ids.ROLLBACK_NOTE, "value"),
    Input(ids.ROLLBACK, "n_clicks"), Input(ids.ROLLBACK_CANCEL, "n_clicks"),
    Input(ids.ROLLBACK_CONFIRM, "n_clicks"),
    State(ids.VERSION_PICK, "value"), State(ids.ROLLBACK_NOTE, "value"), State(ids.BASE, "data"),
    prevent_initial_call=True,
)
@requires(Role.ADMIN)
def roll_back(_open: int | None, _cancel: int | None, _confirm: int | None, picked: str | None,
              note: str | None, base_ref: Any = None):
    """Rolling back creates a new version equal to the picked one (history is never rewritten); what the picked
    version lacks (stored under an older schema, e.g. no TradingRisk sheet) keeps the active values, and the dialog
    and the result say so.

    Rolling back to the version that is already active is refused (checked before the dialog opens and again on
    confirm, since another user may have rolled back meanwhile); a successful rollback empties the note field.
    The rollback is made on the page's version (BASE): when another version became active since, nothing is
    applied and the page moves to that version, so a confirm cannot silently undo a version the user never saw."""
    if not triggered_by_click(ctx.triggered):
        return no_update, no_update, no_update, no_update, no_update
    if ctx.triggered_id == ids.ROLLBACK_CANCEL:
        return False, no_update, no_update, no_update, no_update
    if picked in (None, ""):
        return False, no_update, html.Span("pick a version to roll back to", className="text-danger"), no_update, \
            no_update
    try:
        target = parse_id(picked, "the version to roll back to", "version")
    except FormIdError as exc:
        return False, no_update, html.Span(str(exc), className="text-danger"), no_update, no_update
    context = get_context()
    if target == param_base.active_ref(context.store)["version_id"]:
        msg = html.Span(f"version {target} is already active; nothing changed", className="text-warning")
        return False, no_update, msg, no_update, no_update
    try:
        if ctx.triggered_id == ids.ROLLBACK:
            with context.store.read() as s:
                _ps, kept, active = rollback_plan(s, target)
            extra = f" Note: {_kept_words(kept, target, active)}." if kept else ""
            return True, f"Make a new active version equal to version {target}? The engine uses it from its next " \
                f"cycle.{extra}", no_update, no_update, no_update
        ps, kept = rollback_with_report(context.store, target, web_actor(), text_or_default(note, ""),
                                        clock=context.clock, **_page_version(base_ref))
    except StaleVersionError as exc:
        msg = html.Span(f"not rolled back: version {exc.active} became active after this page showed version "
                        f"{exc.expected}; nothing was changed. The page now shows version {exc.active}: review it, "
                        "then roll back again if still wanted.", className="text-warning")
        return False, no_update, msg, param_base.active_ref(context.store), no_update
    except ValidationError as exc:
        return False, no_update, html.Span(param_base.validation_text(exc, f"version {target} cannot be made active"),
                                           className="text-danger"), no_update, no_update
    except ParamsError as exc:
        return False, no_update, html.Span(str(exc), className="text-danger"), no_update, no_update
    same = f"equal to version {target}" if not kept else f"version {target}'s values; {_kept_words(kept, target, None)}"
    msg = html.Span(f"rolled back: version {ps.version_id} ({same}) is now active", className="text-success",
                    id=ids.APPLIED)
    return False, no_update, msg, param_base.active_ref(context.store), ""


def _older_note(listed: int) -> Any:
    """When more versions are stored than listed, say so and how to reach the older ones: otherwise the oldest
    (e.g. version 1, the reference workbook) look as if they did not exist and cannot be rolled back to."""
    if listed < pv.VERSIONS_LISTED:
        return None
    with get_context().store.read() as s:
        total = count_versions(s)
    if total <= listed:
        return None
    return html.Div(f"The list and the pickers show the newest {listed} of {total} versions. For an older version "
                    "use the command line: python -m engine params export --version N --out FILE, diff N M, or "
                    "rollback N.", className="text-muted small mt-1", id=ids.ACTIVE + "-older")


def _page_version(base_ref: Any) -> dict[str, Any]:
    """rollback_with_report's expected_parent: the version the page shows (an id, or None before any version; -1,
    which no version has, for a forged value). No guard when the page sent no version (a client without it)."""
    if not isinstance(base_ref, dict) or "version_id" not in base_ref:
        return {}
    parent = base_ref["version_id"]
    return {"expected_parent": parent if parent is None or (isinstance(parent, int) and not isinstance(parent, bool))
            else -1}


def _kept_words(kept: list[str], target: int, active: int | None) -> str:
    """What a rollback keeps from the active version because the target (stored under an older schema) lacks it."""
    listed = ", ".join(kept[:8]) + (f" and {len(kept) - 8} more" if len(kept) > 8 else "")
    where = f"version {active}" if active is not None else "the version active before"
    return f"version {target} has no {listed}: kept as in {where}, not reset to the defaults"


def register_callbacks() -> None:
    """Called by pages/parameters.py each time Dash executes that page for a new app (dash.callback
    registrations are consumed by the app being built, so a plain import would serve only the first app)."""
    callbacks.register()
