"""The Regime page's what-if preview: pending parameter edits (the knobs here, the Parameters page's edits, an
uploaded workbook) replayed over the stored history in a background callback, against the active version.
The card's layout is components/regime_whatif_views.py; its knob rows and every callback are here.

pages/regime.py places the card and calls callbacks.register() each time Dash executes it for a new app.
"""
from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, html, no_update

from components import regime_views as views
from components import regime_whatif_views as wviews
from components.ids import parameters as parameters_ids
from components.ids import regime as ids
from engine.auth.roles import Role
from engine.market.exchange import calendar_for_settings
from engine.params import UnsafeWorkbookError
from engine.params.diff import diff_params
from engine.params.versions import active_params
from engine.store import regime_queries as rq
from engine.store.queries import index_symbol as stored_index_symbol
from webapp import param_rows
from webapp import param_views as pv
from webapp.auth.access import requires
from webapp.background import job_settings, job_store
from webapp.context import get_context
from webapp.inputs import is_click
from webapp.regime_analysis import segments
from webapp.regime_colours import with_display_colours
from webapp.regime_whatif import (
    KNOBS,
    WARMUP_BARS,
    WINDOWS,
    WhatIfError,
    allowed_range,
    apply_edits,
    check_knob,
    current_value,
    edits_words,
    merge_edits,
    parse_key,
    run_whatif,
    session_minutes_for,
    upload_sheets,
)
from webapp.wiring import Callbacks

callbacks = Callbacks()


def knob_rows() -> list[dbc.Row]:
    """One row per what-if knob, at the active version's value."""
    with get_context().store.read() as session:
        params = active_params(session)
    rows = []
    for key in KNOBS:
        k = parse_key(key)
        spec = params.schema.sheet(k.sheet).section(k.section).field(k.field)
        allowed = "" if spec.type == "boolean" else allowed_range(spec)
        rows.append(wviews.knob_row(key, k.field, spec, current_value(params, key), allowed))
    return rows


def knob_label(key: str) -> str:
    return parse_key(key).field.replace("_", " ")


def read_knobs(params: Any, values: list[Any], knob_ids: list[Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The number knobs as typed: ({key: typed value} of those differing from `params`, {key: problem}).

    Each box is read by its schema field (type, min, max; webapp.regime_whatif.check_knob), so "-5", "abc" or
    an out-of-range "7" is a named problem, never a silently skipped edit. Ids that are not knobs are ignored."""
    edits: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for ident, raw in zip(knob_ids or [], values or [], strict=False):
        key = ident.get("key") if isinstance(ident, dict) else None
        if key not in KNOBS:
            continue
        k = parse_key(key)
        spec = params.schema.sheet(k.sheet).section(k.section).field(k.field)
        value, problem = check_knob(spec, raw)
        if problem is not None:
            problems[key] = problem
        elif value != current_value(params, key):
            edits[key] = value
    return edits, problems


# --- what-if: pending edits ------------------------------------------------------------------------
@callbacks(
    Output({"type": ids.KNOB_NUM, "key": ALL}, "value"), Output({"type": ids.KNOB_BOOL, "key": ALL}, "value"),
    Input(ids.KNOBS_RESET, "n_clicks"),
    State({"type": ids.KNOB_NUM, "key": ALL}, "id"), State({"type": ids.KNOB_BOOL, "key": ALL}, "id"),
    prevent_initial_call=True,
)
@requires(Role.VIEWER)
def reset_knobs(_n: int | None, num_ids: list[dict], bool_ids: list[dict]):
    with get_context().store.read() as session:
        params = active_params(session)
    return ([current_value(params, i["key"]) for i in num_ids], [bool(current_value(params, i["key"])) for i in bool_ids])


@callbacks(
    Output(ids.WHATIF_UPLOAD_DATA, "data"), Output(ids.WHATIF_UPLOAD_STATUS, "children"),
    Input(ids.WHATIF_UPLOAD, "contents"), Input(ids.WHATIF_UPLOAD_CLEAR, "n_clicks"),
    State(ids.WHATIF_UPLOAD, "filename"), State(ids.WHATIF_UPLOAD_DATA, "data"),
    prevent_initial_call=True,
)
@requires(Role.VIEWER)
def upload_workbook(contents: str | None, _clear: int | None, filename: str | None, pending: Any):
    """The same pre-check, sandboxed parse and validation as the Parameters page; nothing is applied.
    A refused file is not taken: an earlier upload stays (only Clear clears it) and the message says so."""
    if ctx.triggered_id == ids.WHATIF_UPLOAD_CLEAR:
        return None, None
    if not contents:
        return no_update, no_update
    name = filename if isinstance(filename, str) and filename else "workbook"
    kept = pv.refused_upload_note(name[:120], pending)
    try:
        result = pv.import_upload(contents, get_context().settings.max_upload_bytes)
    except (UnsafeWorkbookError, pv.UploadRefused) as exc:
        return no_update, wviews.upload_status(name, 0, f"{name} was refused: {exc} — {kept}")
    if not result.ok or result.paramset is None:
        errors = result.report.errors
        listed = "; ".join(str(i) for i in errors[:3])
        return no_update, wviews.upload_status(name, 0, f"{name}: {len(errors)} problem(s), e.g. {listed}. "
                                                        f"The Parameters page lists them all. {kept}")
    with get_context().store.read() as session:
        changes = len(diff_params(active_params(session), result.paramset))
    ps = result.paramset
    return {"filename": name, "sheets": ps.to_canonical()["sheets"], "hash": ps.content_hash}, \
        wviews.upload_status(name, changes)


@callbacks(
    Output(ids.WHATIF_EDITS, "data"), Output(ids.WHATIF_EDITS_TABLE, "children"),
    Output({"type": ids.KNOB_ERROR, "key": ALL}, "children"), Output({"type": ids.KNOB_NUM, "key": ALL}, "invalid"),
    Input({"type": ids.KNOB_NUM, "key": ALL}, "value"), Input({"type": ids.KNOB_BOOL, "key": ALL}, "value"),
    Input(parameters_ids.EDITS, "data"), Input(ids.WHATIF_UPLOAD_DATA, "data"),
    Input(parameters_ids.UPLOAD_DATA, "data"),
    State({"type": ids.KNOB_NUM, "key": ALL}, "id"), State({"type": ids.KNOB_BOOL, "key": ALL}, "id"),
)
@requires(Role.VIEWER)
def collect_edits(nums: list[Any], bools: list[Any], from_parameters: Any, own_upload: Any,
                  parameters_upload: Any, num_ids: list[dict], bool_ids: list[dict]):
    """The pending edits (Parameters page, then the knobs) and, under each number knob, what is wrong with
    its text; knobs with a problem add no edit, and the run is refused while any is left (run_whatif_preview)."""
    with get_context().store.read() as session:
        params = active_params(session)
    knobs, problems = read_knobs(params, nums, num_ids)
    for ident, value in zip(bool_ids or [], bools or [], strict=False):
        key = ident.get("key") if isinstance(ident, dict) else None
        if key in KNOBS and value is not None and bool(value) != current_value(params, key):
            knobs[key] = bool(value)
    sheets, origin = upload_sheets(own_upload, parameters_upload)
    stored = from_parameters.get("edits", from_parameters) if isinstance(from_parameters, dict) else None
    pending, shown, left_out = replayable(sheets if sheets is not None else pv.origin_sheets(params, None), stored)
    edits = merge_edits(pending, knobs)
    rows = []
    for key, new in edits.items():
        if key in shown:
            rows.append(shown[key])
            continue
        try:
            old = current_value(params, key)
        except (WhatIfError, KeyError, IndexError):
            old = "?"
        k = parse_key(key)
        rows.append({"label": f"{k.sheet} · {k.field}" + (f" (row {k.row + 1})" if k.row is not None else ""),
                     "old": old, "new": new})
    listed = [f"{knob_label(key)}: {problem}" for key, problem in problems.items()]
    keys = [str(i.get("key")) if isinstance(i, dict) else "" for i in num_ids or []]
    table = wviews.edits_table(rows, origin, listed)
    if left_out:
        table = html.Div([table, html.Div(param_rows.dropped_message(left_out).replace(" dropped: ", " left out of "
                                          "the what-if: ", 1), className="small text-warning mt-1")])
    return edits, table, [problems.get(k) for k in keys], [k in problems for k in keys]


def replayable(origin: dict[str, Any], stored: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[str]]:
    """The Parameters page's pending edits as the what-if writes them onto `origin` (the upload, else the active
    version): (edits, {key: its row in the edits table} for the ones not labelled by parse_key, why each other one
    is left out). A table's row changes are kept ("Sheet|section": deleted tokens, added rows: apply_edits makes
    them as Apply does); a cell is keyed by its row's place in the table as edited. An edit whose row is gone is
    left out and named, never dropped silently."""
    if not isinstance(stored, dict):
        return {}, {}, []
    schema = pv.schema()
    try:
        res = param_rows.resolve(schema, origin, stored)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return {}, {}, ["the Parameters page's pending edits do not fit this workbook"]
    out: dict[str, Any] = {}
    shown: dict[str, dict[str, Any]] = {}
    for key, value in stored.items():
        if not isinstance(key, str) or key in res.dropped:
            continue
        if param_rows.is_rows_key(key):
            line = param_rows.describe(schema, origin, key, value)
            out[key] = value
            shown[key] = {"label": f"{line['sheet']} · {line['parameter']}", "old": line["old"], "new": line["new"]}
        elif key in res.cells:
            sheet, section, row, name = res.cells[key]
            at = f"{sheet}|{section}|{row}|{name}"
            out[at] = value
            before = res.sheets[sheet][section][row].get(name)
            named = param_rows.row_name(schema, key)
            shown[at] = {"label": f"{sheet} · {name} (row {row + 1}" + ("" if named == f"row {row + 1}" else
                                                                         f": {named}") + ")",
                         "old": "(new row)" if key.split("|")[2].startswith("+") else before, "new": value}
        elif key.count("|") == 2:
            out[key] = value
    return out, shown, list(res.dropped.values())


# --- what-if: the background replay ----------------------------------------------------------------
@callbacks(
    Output(ids.WHATIF_RESULT, "children"), Output(ids.WHATIF_TIMELINE, "figure"),
    Output(ids.WHATIF_TIMELINE, "style"),
    Input(ids.WHATIF_RUN, "n_clicks"),
    State(ids.WHATIF_EDITS, "data"), State(ids.WHATIF_WINDOW, "value"),
    State(ids.WHATIF_UPLOAD_DATA, "data"), State(parameters_ids.UPLOAD_DATA, "data"),
    State({"type": ids.KNOB_NUM, "key": ALL}, "value"), State({"type": ids.KNOB_NUM, "key": ALL}, "id"),
    background=True,
    progress=[Output(ids.WHATIF_PROGRESS, "value"), Output(ids.WHATIF_PROGRESS, "label")],
    progress_default=[0, ""],
    running=[(Output(ids.WHATIF_RUN, "disabled"), True, False),
             (Output(ids.WHATIF_CANCEL, "disabled"), False, True),
             (Output(ids.WHATIF_PROGRESS_WRAP, "style"), {"display": "block"}, {"display": "none"})],
    cancel=[Input(ids.WHATIF_CANCEL, "n_clicks")],
    interval=150,  # progress polls while a replay runs (a second or two)
    prevent_initial_call=True,
)
@requires(Role.VIEWER)
def run_whatif_preview(set_progress, _n: int | None, edits: dict[str, Any] | None,
                       window: str | None, own_upload: Any, parameters_upload: Any,
                       knob_values: Any = None, knob_ids: Any = None):
    """Runs in a child process (DiskcacheManager): reads copies of the history, writes nothing.

    The number knobs are read again here, as the browser holds them at the click (the edits store may not
    have caught up with a box left by clicking Run): any knob with a problem refuses the run with the list,
    and valid knob values are written over the stored edits (knobs win, as in collect_edits)."""
    hidden = {"display": "none"}
    if not is_click(_n):
        return no_update, no_update, no_update
    bars_wanted = int(str(window)) if str(window) in {str(w) for w in WINDOWS} else int(WINDOWS[0])
    if edits is not None and (not isinstance(edits, dict) or not all(isinstance(k, str) for k in edits)):
        return dbc.Alert("the pending edits could not be read; reload the page", color="warning",
                         id=ids.WHATIF_ERROR), no_update, hidden
    origin, origin_name = upload_sheets(own_upload, parameters_upload)
    set_progress((2, "reading the stored history…"))
    try:
        with job_store() as store, store.read() as session:
            base = active_params(session)
            knob_edits, problems = read_knobs(base, knob_values if isinstance(knob_values, list) else [],
                                              knob_ids if isinstance(knob_ids, list) else [])
            if problems:
                raise WhatIfError("Fix the knob values first (nothing was run): " + "; ".join(
                    f"{knob_label(key)}: {problem}" for key, problem in problems.items()))
            edits = {**(edits or {}), **knob_edits} or None
            symbol = stored_index_symbol(session)
            if symbol is None:
                raise WhatIfError("no index instrument stored yet; wait for the engine's first market data")
            calendar = calendar_for_settings(job_settings(), None)  # regular-session bars, as the engine's regime
            bars, chains, start = rq.replay_window(session, symbol, bars_wanted, WARMUP_BARS, calendar=calendar)
            stored = rq.regime_history(session, bars_wanted, symbol)
            cat = with_display_colours(rq.regime_catalogue(session))
        try:
            candidate = apply_edits(base, edits or {}, origin)
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise WhatIfError(f"the pending edits do not fit this workbook ({type(exc).__name__}: {exc}); discard "
                              "them and edit again") from None

        def progress(fraction: float, phase: str) -> None:
            set_progress((5 + 93 * fraction, f"{phase} {fraction * 100:.0f}%"))

        window_times = bars["timestamp"].iloc[max(0, len(bars) - bars_wanted):]
        result = run_whatif(bars, chains, start, base, candidate, symbol, progress,
                            session=session_minutes_for(calendar, window_times, base))
    except WhatIfError as exc:
        return dbc.Alert(str(exc), color="warning", id=ids.WHATIF_ERROR), no_update, hidden
    set_progress((100, "done"))
    colours = {r["regime_name"]: r["color"] for r in cat["regimes"]}
    lanes = [("active version", segments(result["current"])), ("pending edits", segments(result["candidate"]))]
    if len(stored) and start is not None:
        lanes.insert(0, ("stored (live)", segments(stored[stored["ts"] >= start])))
    what = " + ".join(([origin_name] if origin_name else []) + ([edits_words(edits)] if edits else []))
    note = (f"{what} replayed over {len(bars):,} stored bars ({len(chains)} option chains)." if what else
            "No pending edits: the two replays must agree; edit a knob, upload a workbook or edit on the "
            "Parameters page to see a difference.")
    lanes_note = ("Lanes: stored (live) = what the engine recorded; active version = the same replay without the "
                  "edits, the fair reference (the live lane may differ by its own warm-up and earlier versions).")
    body = html.Div([html.Div(note, className="small text-muted mb-1"), wviews.whatif_summary(result["summary"]),
                     html.Div(lanes_note, className="small text-muted mt-1")])
    fig = views.timeline_figure(lanes, colours, "Current classification against the pending edits")
    return body, fig, {"display": "block"}
