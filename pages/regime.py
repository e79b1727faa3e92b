"""Regime: what the engine classifies now and why, how its classification behaved, and a what-if
preview of pending parameter edits replayed over the stored history before they are applied.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from components import regime_ensemble_views as eviews
from components import regime_views as views
from components import regime_whatif_views as wviews
from components.charts import empty_figure, graph, price_figure
from components.ids import parameters as parameters_ids
from components.ids import regime as ids
from components.shell import page_header
from engine.auth.roles import Role
from engine.params import UnsafeWorkbookError
from engine.params.diff import diff_params
from engine.params.versions import active_params
from engine.regime.ensemble import store as model_store
from engine.store import regime_queries as rq
from engine.store.queries import index_symbol as stored_index_symbol
from webapp import param_views as pv
from webapp import queries, tuning_views
from webapp.auth.access import requires
from webapp.background import job_store
from webapp.cache import cache
from webapp.context import get_context
from webapp.inputs import is_click
from webapp.regime_analysis import duration_stats, segments, transition_matrix
from webapp.regime_calibration import reliability_report
from webapp.regime_colours import with_display_colours
from webapp.regime_whatif import (
    KNOBS,
    WARMUP_BARS,
    WINDOWS,
    WhatIfError,
    apply_edits,
    current_value,
    merge_edits,
    parse_key,
    run_whatif,
    upload_sheets,
)

dash.register_page(__name__, path="/regime", name="Regime", order=1)
tuning_views.register_regime_callbacks()  # issue 16: the scorecard section

REFRESH_MS = 2000
STATS_MS = 10_000
PRICE_BARS = 600
HISTORY_ROWS = 5000
# The Parameters page's pending edits ({key: raw}); shared with this page once that store uses
# storage_type="session" (a memory store does not survive the page change).
PARAMETERS_EDITS_STORE = parameters_ids.EDITS
PARAMETERS_UPLOAD_STORE = parameters_ids.UPLOAD_DATA  # {"filename", "sheets", "hash"} of its pending upload


# --- memoized reads --------------------------------------------------------------------------------
T = TypeVar("T")


def _read(fn: Callable[..., T], *args: Any) -> T:
    with get_context().store.read() as session:
        return fn(session, *args)


@cache.memoize()
def _latest() -> dict[str, Any] | None:
    return _read(rq.latest_regime)


@cache.memoize()
def _history(limit: int) -> pd.DataFrame:
    return _read(rq.regime_history, limit)


@cache.memoize(timeout=5)
def _catalogue() -> dict[str, Any]:
    return with_display_colours(_read(rq.regime_catalogue))


def _colours(cat: dict[str, Any]) -> dict[str, str]:
    return {r["regime_name"]: r["color"] for r in cat["regimes"]}


def _version_text(info: dict[str, Any] | None, version_id: int | None) -> tuple[str, str]:
    """('version 3', 'ui by alice 2026-01-05 10:00') for the card; the defaults before any apply."""
    if version_id is None:
        return "defaults", "the workbook defaults (nothing applied yet)"
    if info is None:
        return f"version {version_id}", ""
    return f"version {version_id}", f"{info['source']} by {info['author']} {info['created_at']:%Y-%m-%d %H:%M}"


# --- layout ----------------------------------------------------------------------------------------
def _knob_rows() -> list[dbc.Row]:
    with get_context().store.read() as session:
        params = active_params(session)
    rows = []
    for key in KNOBS:
        k = parse_key(key)
        spec = params.schema.sheet(k.sheet).section(k.section).field(k.field)
        rows.append(wviews.knob_row(key, k.field, spec, current_value(params, key)))
    return rows


def layout(**_kwargs: object) -> html.Div:
    return html.Div([
        page_header("Regime", "The engine's classification of the index, why, and how it behaved"),
        dcc.Interval(id=ids.INTERVAL, interval=REFRESH_MS),
        dcc.Interval(id=ids.STATS_INTERVAL, interval=STATS_MS),
        dcc.Store(id=ids.SEEN),
        dcc.Store(id=ids.WHATIF_EDITS, data={}),
        dcc.Store(id=PARAMETERS_EDITS_STORE, storage_type="session"),
        dcc.Store(id=PARAMETERS_UPLOAD_STORE, storage_type="session"),
        dcc.Store(id=ids.WHATIF_UPLOAD_DATA),
        dbc.Row([
            dbc.Col(dbc.Card(dbc.CardBody(html.Div("waiting for the first classification…", className="text-muted"),
                                          id=ids.CURRENT_CARD), className="h-100"), md=4),
            dbc.Col([graph(ids.CONTRIBUTIONS, empty_figure("waiting for the regime engine…")),
                     html.Div(id=ids.INACTIVE)], md=8),
        ], className="g-2"),
        graph(ids.PRICE_CHART, empty_figure("waiting for bars…")),
        html.Div(id=ids.BAR_COUNT, className="small text-muted"),
        graph(ids.TIMELINE, empty_figure("no classification yet")),
        dbc.Row([
            dbc.Col(graph(ids.TRANSITIONS, empty_figure("no classification yet")), md=6),
            dbc.Col([graph(ids.DURATIONS, empty_figure("no classification yet")),
                     html.Div(id=ids.DURATION_TABLE)], md=6),
        ], className="g-2"),
        dbc.Row([
            dbc.Col(dbc.Card(dbc.CardBody([html.H6("Ensemble and regime outlook"),
                                           html.Div(id=ids.ENSEMBLE_CARD)])), md=6),
            dbc.Col(graph(ids.RELIABILITY, empty_figure("no classification yet")), md=6),
        ], className="g-2 mb-2"),
        tuning_views.scorecard_card(),  # issue 16: the PerformanceMetrics scorecard
        wviews.whatif_card(_knob_rows(), WINDOWS),
    ])


# --- live callbacks --------------------------------------------------------------------------------
@dash.callback(
    Output(ids.CURRENT_CARD, "children"), Output(ids.CONTRIBUTIONS, "figure"),
    Output(ids.INACTIVE, "children"), Output(ids.SEEN, "data"),
    Input(ids.INTERVAL, "n_intervals"), State(ids.SEEN, "data"),
)
@requires(Role.VIEWER)
def refresh_current(_n: int | None, seen: int | None):
    latest = _latest()
    if latest is None or latest["id"] == seen:
        return no_update, no_update, no_update, no_update
    cat = _catalogue()
    entry = next((r for r in cat["regimes"] if r["regime_id"] == latest["regime_id"]), None)
    colour = entry["color"] if entry else views.UNKNOWN_COLOUR
    used = latest["param_version_id"]
    active, detail = _version_text(cat["version"], cat["version_id"])
    if used != cat["version_id"]:  # the engine has not reloaded the newly applied version yet
        detail = f"{detail}; this classification used {_version_text(None, used)[0]}"
    classes = (str(entry["trend_class"]), str(entry["volatility_class"])) if entry else None
    card = views.regime_card(latest, colour, entry["description"] if entry else "", active, detail, classes)
    return card, views.contributions_figure(latest["modules"]), views.inactive_modules(latest["modules"]), latest["id"]


@dash.callback(
    Output(ids.PRICE_CHART, "figure"), Output(ids.BAR_COUNT, "children"),
    Output(ids.TIMELINE, "figure"),
    Input(ids.INTERVAL, "n_intervals"), State(ids.BAR_COUNT, "children"),
)
@requires(Role.VIEWER)
def refresh_price(_n: int | None, shown: str | None):
    symbol = queries.index_symbol()
    if symbol is None:
        return no_update, "no instruments yet", no_update
    frame = queries.bars(symbol, PRICE_BARS)
    if frame.empty:
        return no_update, "no bars yet", no_update
    hist = _history(HISTORY_ROWS)
    text = f"{len(frame)} bars shown, newest {frame['timestamp'].iloc[-1]:%Y-%m-%d %H:%M}, {len(hist)} classified"
    if text == shown:
        return no_update, no_update, no_update
    colours = _colours(_catalogue())
    recent = hist[hist["ts"] >= frame["timestamp"].iloc[0]] if len(hist) else hist
    price = price_figure(frame, f"{symbol} with the detected regime", bands=views.bands(segments(recent), colours))
    timeline = (views.timeline_figure([("live", segments(hist))], colours, f"Regime timeline ({len(hist)} bars)")
                if len(hist) else empty_figure("no classification yet"))
    return price, text, timeline


@dash.callback(
    Output(ids.TRANSITIONS, "figure"), Output(ids.DURATIONS, "figure"),
    Output(ids.DURATION_TABLE, "children"),
    Input(ids.STATS_INTERVAL, "n_intervals"),
)
@requires(Role.VIEWER)
def refresh_stats(_n: int | None):
    hist = _history(HISTORY_ROWS)
    if hist.empty:
        return no_update, no_update, no_update
    cat = _catalogue()
    names = [r["regime_name"] for r in sorted(cat["regimes"], key=lambda r: r["regime_id"])]
    stats = duration_stats(segments(hist), cat["regimes"])
    return (views.transition_heatmap(transition_matrix(hist, names)), views.duration_figure(stats),
            views.duration_table(stats))


@dash.callback(
    Output(ids.ENSEMBLE_CARD, "children"), Output(ids.RELIABILITY, "figure"),
    Input(ids.STATS_INTERVAL, "n_intervals"),
)
@requires(Role.VIEWER)
def refresh_ensemble(_n: int | None):
    """The newest ensemble verdict and dynamics, the model in force, and the reliability diagram."""
    latest = _latest()
    hist = _history(HISTORY_ROWS)
    cat = _catalogue()
    names = {int(r["regime_id"]): str(r["regime_name"]) for r in cat["regimes"]}
    with get_context().store.read() as session:
        params = active_params(session)
        models = model_store.summaries(session, latest["symbol"] if latest else None, limit=1)
    card = eviews.ensemble_card(latest.get("ensemble") if latest else None, names, models[0] if models else None)
    return card, eviews.reliability_figure(reliability_report(hist, params))


# --- what-if: pending edits ------------------------------------------------------------------------
@dash.callback(
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


@dash.callback(
    Output(ids.WHATIF_UPLOAD_DATA, "data"), Output(ids.WHATIF_UPLOAD_STATUS, "children"),
    Input(ids.WHATIF_UPLOAD, "contents"), Input(ids.WHATIF_UPLOAD_CLEAR, "n_clicks"),
    State(ids.WHATIF_UPLOAD, "filename"),
    prevent_initial_call=True,
)
@requires(Role.VIEWER)
def upload_workbook(contents: str | None, _clear: int | None, filename: str | None):
    """The same pre-check, sandboxed parse and validation as the Parameters page; nothing is applied."""
    if ctx.triggered_id == ids.WHATIF_UPLOAD_CLEAR:
        return None, None
    if not contents:
        return no_update, no_update
    name = filename or "workbook"
    try:
        result = pv.import_upload(contents, get_context().settings.max_upload_bytes)
    except (UnsafeWorkbookError, pv.UploadRefused) as exc:
        return None, wviews.upload_status(name, 0, f"{name} was refused: {exc}")
    if not result.ok or result.paramset is None:
        errors = result.report.errors
        listed = "; ".join(str(i) for i in errors[:3])
        return None, wviews.upload_status(name, 0, f"{name}: {len(errors)} problem(s), e.g. {listed}. "
                                                   "The Parameters page lists them all.")
    with get_context().store.read() as session:
        changes = len(diff_params(active_params(session), result.paramset))
    ps = result.paramset
    return {"filename": name, "sheets": ps.to_canonical()["sheets"], "hash": ps.content_hash}, \
        wviews.upload_status(name, changes)


@dash.callback(
    Output(ids.WHATIF_EDITS, "data"), Output(ids.WHATIF_EDITS_TABLE, "children"),
    Input({"type": ids.KNOB_NUM, "key": ALL}, "value"), Input({"type": ids.KNOB_BOOL, "key": ALL}, "value"),
    Input(PARAMETERS_EDITS_STORE, "data"), Input(ids.WHATIF_UPLOAD_DATA, "data"),
    Input(PARAMETERS_UPLOAD_STORE, "data"),
    State({"type": ids.KNOB_NUM, "key": ALL}, "id"), State({"type": ids.KNOB_BOOL, "key": ALL}, "id"),
)
@requires(Role.VIEWER)
def collect_edits(nums: list[Any], bools: list[Any], from_parameters: Any, own_upload: Any,
                  parameters_upload: Any, num_ids: list[dict], bool_ids: list[dict]):
    with get_context().store.read() as session:
        params = active_params(session)
    knobs: dict[str, Any] = {}
    for ident, value in [*zip(num_ids, nums, strict=True), *zip(bool_ids, bools, strict=True)]:
        if value is not None and value != current_value(params, ident["key"]):
            knobs[ident["key"]] = value
    edits = merge_edits(from_parameters if isinstance(from_parameters, dict) else None, knobs)
    _sheets, origin = upload_sheets(own_upload, parameters_upload)
    rows = []
    for key, new in edits.items():
        try:
            old = current_value(params, key)
        except (WhatIfError, KeyError, IndexError):
            old = "?"
        k = parse_key(key)
        rows.append({"label": f"{k.sheet} · {k.field}" + (f" (row {k.row + 1})" if k.row is not None else ""),
                     "old": old, "new": new})
    return edits, wviews.edits_table(rows, origin)


# --- what-if: the background replay ----------------------------------------------------------------
@dash.callback(
    Output(ids.WHATIF_RESULT, "children"), Output(ids.WHATIF_TIMELINE, "figure"),
    Output(ids.WHATIF_TIMELINE, "style"),
    Input(ids.WHATIF_RUN, "n_clicks"),
    State(ids.WHATIF_EDITS, "data"), State(ids.WHATIF_WINDOW, "value"),
    State(ids.WHATIF_UPLOAD_DATA, "data"), State(PARAMETERS_UPLOAD_STORE, "data"),
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
                       window: str | None, own_upload: Any, parameters_upload: Any):
    """Runs in a child process (DiskcacheManager): reads copies of the history, writes nothing."""
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
            symbol = stored_index_symbol(session)
            if symbol is None:
                raise WhatIfError("no index instrument stored yet; wait for the engine's first market data")
            bars, chains, start = rq.replay_window(session, symbol, bars_wanted, WARMUP_BARS)
            stored = rq.regime_history(session, bars_wanted, symbol)
            cat = with_display_colours(rq.regime_catalogue(session))
        try:
            candidate = apply_edits(base, edits or {}, origin)
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise WhatIfError(f"the pending edits do not fit this workbook ({type(exc).__name__}: {exc}); discard "
                              "them and edit again") from None

        def progress(fraction: float, phase: str) -> None:
            set_progress((5 + 93 * fraction, f"{phase} {fraction * 100:.0f}%"))

        result = run_whatif(bars, chains, start, base, candidate, symbol, progress)
    except WhatIfError as exc:
        return dbc.Alert(str(exc), color="warning", id=ids.WHATIF_ERROR), no_update, hidden
    set_progress((100, "done"))
    colours = _colours(cat)
    lanes = [("active version", segments(result["current"])), ("pending edits", segments(result["candidate"]))]
    if len(stored) and start is not None:
        lanes.insert(0, ("stored (live)", segments(stored[stored["ts"] >= start])))
    what = " + ".join(([origin_name] if origin_name else []) + ([f"{len(edits)} pending edit(s)"] if edits else []))
    note = (f"{what} replayed over {len(bars):,} stored bars ({len(chains)} option chains)." if what else
            "No pending edits: the two replays must agree; edit a knob, upload a workbook or edit on the "
            "Parameters page to see a difference.")
    lanes_note = ("Lanes: stored (live) = what the engine recorded; active version = the same replay without the "
                  "edits, the fair reference (the live lane may differ by its own warm-up and earlier versions).")
    body = html.Div([html.Div(note, className="small text-muted mb-1"), wviews.whatif_summary(result["summary"]),
                     html.Div(lanes_note, className="small text-muted mt-1")])
    fig = views.timeline_figure(lanes, colours, "Current classification against the pending edits")
    return body, fig, {"display": "block"}
