"""Parameters page: Apply (after its confirm dialog: validate the whole candidate again, store it as a new
active version, audited with the acting user) and Upload (pre-check, sandboxed parse, validation; with any
problem nothing changes and every problem is listed). The toolbar and dialog are components/param_chrome.py.

pages/parameters.py calls callbacks.register() each time Dash executes it for a new app.
"""
from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, html, no_update

from components import param_chrome as chrome
from components.ids import parameters as ids
from engine.auth.roles import Role
from engine.params.diff import diff_params
from engine.params.errors import ParamsError, StaleVersionError, UnsafeWorkbookError, ValidationError
from engine.params.versions import apply_version
from webapp import param_base, param_rows
from webapp import param_views as pv
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.control_actions import web_actor
from webapp.inputs import text_or_default, triggered_by_click
from webapp.param_uploads import carry_edits, onto_active, restage
from webapp.wiring import Callbacks

callbacks = Callbacks()


# --- apply ---------------------------------------------------------------------------------------
@callbacks(
    Output(ids.APPLY_MODAL, "is_open"), Output(ids.APPLY_BODY, "children"),
    Output(ids.MESSAGE, "children"),
    Output(ids.EDITS, "data", allow_duplicate=True),
    Output(ids.UPLOAD_DATA, "data", allow_duplicate=True),
    Output(ids.BASE, "data"),
    Output(ids.APPLY_NOTE, "value"),
    Input(ids.APPLY, "n_clicks"), Input(ids.APPLY_CANCEL, "n_clicks"),
    Input(ids.APPLY_CONFIRM, "n_clicks"),
    State(ids.EDITS, "data"), State(ids.UPLOAD_DATA, "data"), State(ids.BASE, "data"),
    State(ids.APPLY_NOTE, "value"),
    prevent_initial_call=True,
)
@requires(Role.ADMIN)
def apply_pending(_open: int | None, _cancel: int | None, _confirm: int | None, edits: dict, upload: dict | None,
                  base_ref: dict, note: str | None):
    """Apply (after the confirm dialog) validates the whole set again and stores it as a new version.

    A successful Apply empties the dialog's note field, so the next Apply does not silently reuse this note."""
    keep = (no_update,) * 5
    if not triggered_by_click(ctx.triggered):
        return no_update, no_update, *keep
    if ctx.triggered_id == ids.APPLY_CANCEL:
        return False, no_update, *keep
    schema, context = pv.schema(), get_context()
    base = param_base.load_base(context.store, (base_ref or {}).get("version_id"))
    sheets = pv.candidate_sheets(base, edits or {}, upload)
    ps, issues = pv.validate_candidate(schema, sheets)
    stale = _stale_upload(context.store, upload) if upload else None
    if ctx.triggered_id == ids.APPLY:
        if upload and stale is not None:
            return _refused_stale(context.store, schema, upload, *stale)
        # an upload replaces the active version (it was checked against it): count the changes against that one
        origin = param_base.load_base(context.store, None) if upload else base
        n = len(diff_params(origin, ps)) if ps is not None else 0
        what = (f"the uploaded workbook {upload.get('filename') or ''}"
                + (f" with {pv.count_of(len(edits), 'pending edit')} on top" if edits else "")) if upload else "your edits"
        body = (f"Apply {what} ({pv.count_of(n, 'changed value')}) as a new active version? The running engine uses it from "
                "its next cycle." if ps is not None else f"{len(issues)} problems remain; nothing can be applied.")
        return True, f"{body}{_kept_note(upload)}", *keep
    if ps is None:
        msg = html.Span(f"not applied: {len(issues)} problems (listed above); nothing was changed",
                        className="text-danger")
        return False, no_update, msg, no_update, no_update, no_update, no_update
    if upload and stale is not None:
        return _refused_stale(context.store, schema, upload, *stale)
    source = "upload" if upload else "ui"
    text = text_or_default(note, f"uploaded {upload.get('filename')}" if upload else "edited in the web UI")
    # checked, inside the apply transaction, against the version they were made on: edits against the page's
    # version, an upload against the active version it was checked against when it arrived (its base_version)
    parent = upload.get("base_version") if upload else (base_ref or {}).get("version_id")
    try:
        applied = apply_version(context.store, ps, web_actor(), source, text, clock=context.clock,
                                expected_parent=parent if parent is None or isinstance(parent, int) else -1)
    except StaleVersionError as exc:
        if upload:
            return _refused_stale(context.store, schema, upload, exc.active, exc.expected)
        msg = html.Span(f"not applied: version {exc.active} became active while you were editing. Your edits now "
                        "sit on top of it: review the pending changes and Apply again.", className="text-warning")
        return False, no_update, msg, no_update, no_update, param_base.active_ref(context.store), no_update
    except ValidationError as exc:
        return (False, no_update, html.Span(param_base.validation_text(exc, "not applied"), className="text-danger"),
                no_update, no_update, no_update, no_update)
    except ParamsError as exc:
        return (False, no_update, html.Span(str(exc), className="text-danger"), no_update, no_update, no_update,
                no_update)
    msg = html.Span(f"version {applied.version_id} is now active ({source}: {text})", className="text-success",
                    id=ids.APPLIED)
    return False, no_update, msg, {}, None, param_base.active_ref(context.store), ""


def _refused_stale(store: Any, schema: Any, upload: dict, active: int | None, checked: Any) -> tuple:
    """apply_pending's answer when another version became active after the upload was checked: nothing is applied,
    and the pending upload is checked again against the active version (restage) so its changes below count against
    it and Apply works next time, without the file. If that cannot be done the message asks for the file again,
    which works (upload_workbook clears the upload's contents, so the same file counts as a new choice)."""
    head = f"not applied: version {active} became active after the upload was checked against version {checked}; " \
           "nothing was changed."
    again = restage(store, schema, upload)
    if again is None:
        text = f"{head} Upload the file once more to check it against version {active}, then Apply."
        return False, no_update, html.Span(text, className="text-warning"), *(no_update,) * 4
    text = (f"{head} Check the upload again: it was re-checked against version {again['base_version']}, and its "
            "changes below now count against that version; review them, then Apply.")
    return False, no_update, html.Span(text, className="text-warning"), no_update, again, no_update, no_update


def _stale_upload(store: Any, upload: dict) -> tuple[int | None, Any] | None:
    """(active version, version the upload was checked against) when another version became active since the
    pending upload was checked, else None."""
    active = param_base.active_ref(store)["version_id"]
    if "base_version" not in upload:  # staged by an older page: never checked against a version
        return active, "(unknown)"
    return None if upload["base_version"] == active else (active, upload["base_version"])


def _kept_note(upload: dict | None) -> str:
    """The confirm dialog's word on what the file lacks (kept from the active version, not reset to defaults)."""
    kept = upload.get("kept") if upload else None
    if not upload or not isinstance(kept, list) or not kept:
        return ""
    listed = ", ".join(str(k) for k in kept[:8]) + (f" and {len(kept) - 8} more" if len(kept) > 8 else "")
    return (f" The file has no {listed}: kept as in the active version {upload.get('base_version')}"
            " (not reset to the defaults).")


# --- upload --------------------------------------------------------------------------------------
@callbacks(
    Output(ids.UPLOAD_RESULT, "children"),
    Output(ids.UPLOAD_DATA, "data", allow_duplicate=True),
    Output(ids.EDITS, "data", allow_duplicate=True),
    Output(ids.MESSAGE, "children", allow_duplicate=True),
    Output(ids.UPLOAD, "contents"),
    Input(ids.UPLOAD, "contents"), Input(ids.DISCARD, "n_clicks"),
    State(ids.UPLOAD, "filename"), State(ids.UPLOAD_DATA, "data"), State(ids.EDITS, "data"), State(ids.BASE, "data"),
    prevent_initial_call=True,
)
@requires(Role.ADMIN)
def upload_workbook(contents: str | None, _discard: int | None, filename: str | None, pending: dict | None,
                    edits: dict | None, base_ref: dict | None):
    """Pre-check + sandboxed parse + validation; with any problem nothing changes and all are listed.

    A refused file is not taken: the upload store keeps the earlier upload (if any) and the message says so.
    Every answer clears the upload's contents: the renderer drops a prop update equal to the current value, so
    choosing the same file again (after Discard, or to check it again) would otherwise run nothing.
    Pending edits are carried onto a valid upload (param_uploads.carry_edits: the edit wins where the file also
    changed the cell) and the result says so."""
    if ctx.triggered_id == ids.DISCARD:
        return None, no_update, no_update, no_update, None  # collect_edits clears the upload itself, with the edits
    if not isinstance(contents, str) or not contents:
        return no_update, no_update, no_update, no_update, no_update
    name = filename[:120] if isinstance(filename, str) and filename else "workbook"
    kept = pv.refused_upload_note(name, pending)
    try:
        result = pv.import_upload(contents, get_context().settings.max_upload_bytes)
    except (UnsafeWorkbookError, pv.UploadRefused) as exc:
        return dbc.Alert(f"{name} was refused: {exc} — {kept}", color="danger", className="small",
                         id=ids.ISSUES), no_update, no_update, None, None
    report = result.report
    if not result.ok or result.paramset is None:
        return chrome.issues_by_sheet([i.to_dict() for i in report.errors],
                                      f"{name}: {len(report.errors)} problems; nothing was changed — {kept}"), \
            no_update, no_update, None, None
    store = get_context().store
    staged = onto_active(store, result)
    if staged.paramset is None:  # the file is valid, but not together with what it keeps from the active version
        return chrome.issues_by_sheet([i.to_dict() for i in staged.errors],
                                      f"{name}: {len(staged.errors)} problems with the sheets kept from the active "
                                      f"version {staged.base_version}; nothing was changed — {kept}"), \
            no_update, no_update, None, None
    data = staged.store_data(name)
    schema = pv.schema()
    before = pv.origin_sheets(param_base.load_base(store, (base_ref or {}).get("version_id")), pending)
    carried, dropped, both = carry_edits(schema, before, data["sheets"], edits or {})
    held = [f"Kept from the active version {staged.base_version} (not in the file): {', '.join(staged.kept[:8])}"
            + (f" and {len(staged.kept) - 8} more. " if len(staged.kept) > 8 else ". ")] if staged.kept else []
    summary = html.Div([html.Strong(f"{name} is valid. "), *held, *_edits_note(carried, dropped, both),
                        "Review the changes below, then Apply. ",
                        html.Span(" · ".join(report.summary_lines()), className="text-muted")],
                       className="small text-success", id=ids.UPLOAD_OK)
    warnings = chrome.upload_warnings([i.to_dict() for i in staged.warnings])
    return html.Div([summary, warnings]), data, carried, None, None


def _edits_note(carried: dict, dropped: list[str], both: list[str]) -> list[Any]:
    """What became of the pending edits when a valid file arrived: kept on top (named where they override the
    file), and any dropped because their row is not in the file."""
    out: list[Any] = []
    if carried:
        over = (f" Where the file also changes the cell, your edit wins: {', '.join(both[:8])}"
                + (f" and {len(both) - 8} more" if len(both) > 8 else "") + ".") if both else ""
        out.append(html.Span(f"Your {pv.count_of(len(carried), 'pending edit')} {'stays' if len(carried) == 1 else 'stay'} on "
                             f"top of the file.{over} "
                             "(Discard drops the upload and the edits.) ", className="text-warning"))
    if dropped:
        out.append(html.Span(param_rows.dropped_message(dropped) + " ", className="text-warning"))
    return out
