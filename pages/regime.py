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
PARAMETERS_EDITS_STORE = "parameters-edits"
PARAMETERS_UPLOAD_STORE = "parameters-upload-data"  # {"filename", "sheets", "hash"} of its pending upload


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
        dcc.Interval(id="regime-interval", interval=REFRESH_MS),
        dcc.Interval(id="regime-stats-interval", interval=STATS_MS),
        dcc.Store(id="regime-seen"),
        dcc.Store(id="regime-whatif-edits", data={}),
        dcc.Store(id=PARAMETERS_EDITS_STORE, storage_type="session"),
        dcc.Store(id=PARAMETERS_UPLOAD_STORE, storage_type="session"),
        dcc.Store(id="regime-whatif-upload-data"),
        dbc.Row([
            dbc.Col(dbc.Card(dbc.CardBody(html.Div("waiting for the first classification…", className="text-muted"),
                                          id="regime-current-card"), className="h-100"), md=4),
            dbc.Col([graph("regime-contributions", empty_figure("waiting for the regime engine…")),
                     html.Div(id="regime-inactive")], md=8),
        ], className="g-2"),
        graph("regime-price-chart", empty_figure("waiting for bars…")),
        html.Div(id="regime-bar-count", className="small text-muted"),
        graph("regime-timeline", empty_figure("no classification yet")),
        dbc.Row([
            dbc.Col(graph("regime-transitions", empty_figure("no classification yet")), md=6),
            dbc.Col([graph("regime-durations", empty_figure("no classification yet")),
                     html.Div(id="regime-duration-table")], md=6),
        ], className="g-2"),
        dbc.Row([
            dbc.Col(dbc.Card(dbc.CardBody([html.H6("Ensemble and regime outlook"),
                                           html.Div(id="regime-ensemble-card")])), md=6),
            dbc.Col(graph("regime-reliability", empty_figure("no classification yet")), md=6),
        ], className="g-2 mb-2"),
        tuning_views.scorecard_card(),  # issue 16: the PerformanceMetrics scorecard
        wviews.whatif_card(_knob_rows(), WINDOWS),
    ])


# --- live callbacks --------------------------------------------------------------------------------
@dash.callback(
    Output("regime-current-card", "children"), Output("regime-contributions", "figure"),
    Output("regime-inactive", "children"), Output("regime-seen", "data"),
    Input("regime-interval", "n_intervals"), State("regime-seen", "data"),
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
    Output("regime-price-chart", "figure"), Output("regime-bar-count", "children"),
    Output("regime-timeline", "figure"),
    Input("regime-interval", "n_intervals"), State("regime-bar-count", "children"),
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
    Output("regime-transitions", "figure"), Output("regime-durations", "figure"),
    Output("regime-duration-table", "children"),
    Input("regime-stats-interval", "n_intervals"),
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
    Output("regime-ensemble-card", "children"), Output("regime-reliability", "figure"),
    Input("regime-stats-interval", "n_intervals"),
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
    Output({"type": "regime-knob-num", "key": ALL}, "value"), Output({"type": "regime-knob-bool", "key": ALL}, "value"),
    Input("regime-knobs-reset", "n_clicks"),
    State({"type": "regime-knob-num", "key": ALL}, "id"), State({"type": "regime-knob-bool", "key": ALL}, "id"),
    prevent_initial_call=True,
)
@requires(Role.VIEWER)
def reset_knobs(_n: int | None, num_ids: list[dict], bool_ids: list[dict]):
    with get_context().store.read() as session:
        params = active_params(session)
    return ([current_value(params, i["key"]) for i in num_ids], [bool(current_value(params, i["key"])) for i in bool_ids])


@dash.callback(
    Output("regime-whatif-upload-data", "data"), Output("regime-whatif-upload-status", "children"),
    Input("regime-whatif-upload", "contents"), Input("regime-whatif-upload-clear", "n_clicks"),
    State("regime-whatif-upload", "filename"),
    prevent_initial_call=True,
)
@requires(Role.VIEWER)
def upload_workbook(contents: str | None, _clear: int | None, filename: str | None):
    """The same pre-check, sandboxed parse and validation as the Parameters page; nothing is applied."""
    if ctx.triggered_id == "regime-whatif-upload-clear":
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
    Output("regime-whatif-edits", "data"), Output("regime-whatif-edits-table", "children"),
    Input({"type": "regime-knob-num", "key": ALL}, "value"), Input({"type": "regime-knob-bool", "key": ALL}, "value"),
    Input(PARAMETERS_EDITS_STORE, "data"), Input("regime-whatif-upload-data", "data"),
    Input(PARAMETERS_UPLOAD_STORE, "data"),
    State({"type": "regime-knob-num", "key": ALL}, "id"), State({"type": "regime-knob-bool", "key": ALL}, "id"),
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
    Output("regime-whatif-result", "children"), Output("regime-whatif-timeline", "figure"),
    Output("regime-whatif-timeline", "style"),
    Input("regime-whatif-run", "n_clicks"),
    State("regime-whatif-edits", "data"), State("regime-whatif-window", "value"),
    State("regime-whatif-upload-data", "data"), State(PARAMETERS_UPLOAD_STORE, "data"),
    background=True,
    progress=[Output("regime-whatif-progress", "value"), Output("regime-whatif-progress", "label")],
    progress_default=[0, ""],
    running=[(Output("regime-whatif-run", "disabled"), True, False),
             (Output("regime-whatif-cancel", "disabled"), False, True),
             (Output("regime-whatif-progress-wrap", "style"), {"display": "block"}, {"display": "none"})],
    cancel=[Input("regime-whatif-cancel", "n_clicks")],
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
                         id="regime-whatif-error"), no_update, hidden
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
        return dbc.Alert(str(exc), color="warning", id="regime-whatif-error"), no_update, hidden
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
