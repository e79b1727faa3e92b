"""Regime: what the engine classifies now and why, how its classification behaved, and a what-if
preview of pending parameter edits replayed over the stored history before they are applied.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, dcc, html, no_update

from components import regime_ensemble_views as eviews
from components import regime_views as views
from components import regime_whatif_views as wviews
from components.charts import empty_figure, graph, price_figure
from components.ids import parameters as parameters_ids
from components.ids import regime as ids
from components.shell import page_header
from engine.auth.roles import Role
from engine.params.versions import active_params
from engine.regime.ensemble import store as model_store
from engine.regime.ensemble.config import EnsembleConfig
from engine.regime.ensemble.model_key import model_key
from engine.store import regime_queries as rq
from webapp import queries, regime_whatif_page, tuning_views
from webapp.auth.access import requires
from webapp.cache import cache
from webapp.context import get_context
from webapp.regime_analysis import duration_stats, segments, transition_matrix
from webapp.regime_calibration import reliability_report
from webapp.regime_colours import with_display_colours
from webapp.regime_whatif import (
    WINDOWS,
)

dash.register_page(__name__, path="/regime", name="Regime", order=1)
tuning_views.register_regime_callbacks()  # issue 16: the scorecard section
regime_whatif_page.callbacks.register()  # the what-if preview: knobs, upload, pending edits, background replay

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


def _index() -> str | None:
    """The one index every part of this page shows (engine.store.queries.index_symbol): a store that ran one
    market source and then another holds two, and the card, charts and statistics must not mix them.
    None (no index instrument stored): every read below is unfiltered."""
    return queries.index_symbol()


@cache.memoize()
def _latest(symbol: str | None) -> dict[str, Any] | None:
    return _read(rq.latest_regime, symbol)


@cache.memoize()
def _history(limit: int, symbol: str | None) -> pd.DataFrame:
    return _read(rq.regime_history, limit, symbol)


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
        # Two stacked columns rather than rows of pairs: the transitions heatmap is only as tall as its regimes
        # (components.regime_views.heatmap_height), so the ensemble card and the reliability diagram follow it
        # directly instead of leaving a blank band beside the taller durations chart and table.
        dbc.Row([
            dbc.Col([graph(ids.TRANSITIONS, empty_figure("no classification yet")),
                     dbc.Card(dbc.CardBody([html.H6("Ensemble and regime outlook"),
                                            html.Div(id=ids.ENSEMBLE_CARD)]), className="my-2"),
                     graph(ids.RELIABILITY, empty_figure("no classification yet"))], md=6),
            dbc.Col([graph(ids.DURATIONS, empty_figure("no classification yet")),
                     html.Div(id=ids.DURATION_TABLE)], md=6),
        ], className="g-2 mb-2"),
        tuning_views.scorecard_card(),  # issue 16: the PerformanceMetrics scorecard
        wviews.whatif_card(regime_whatif_page.knob_rows(), WINDOWS),
    ])


# --- live callbacks --------------------------------------------------------------------------------
@dash.callback(
    Output(ids.CURRENT_CARD, "children"), Output(ids.CONTRIBUTIONS, "figure"),
    Output(ids.INACTIVE, "children"), Output(ids.SEEN, "data"),
    Input(ids.INTERVAL, "n_intervals"), State(ids.SEEN, "data"),
)
@requires(Role.VIEWER)
def refresh_current(_n: int | None, seen: list[int | None] | None):
    """Redrawn when the newest classification or the active parameter version changes: after an apply the card
    names the new version (and the version this classification used) without waiting for the next bar."""
    latest = _latest(_index())
    if latest is None:
        return no_update, no_update, no_update, no_update
    cat = _catalogue()
    shown = [latest["id"], cat["version_id"]]
    if shown == seen:
        return no_update, no_update, no_update, no_update
    entry = next((r for r in cat["regimes"] if r["regime_id"] == latest["regime_id"]), None)
    colour = entry["color"] if entry else views.UNKNOWN_COLOUR
    used = latest["param_version_id"]
    active, detail = _version_text(cat["version"], cat["version_id"])
    if used != cat["version_id"]:  # the engine has not reloaded the newly applied version yet
        detail = f"{detail}; this classification used {_version_text(None, used)[0]}"
    classes = (str(entry["trend_class"]), str(entry["volatility_class"])) if entry else None
    card = views.regime_card(latest, colour, entry["description"] if entry else "", active, detail, classes)
    figure = views.contributions_figure(latest["modules"], latest.get("raw_score"))
    return card, figure, views.inactive_modules(latest["modules"]), shown


@dash.callback(
    Output(ids.PRICE_CHART, "figure"), Output(ids.BAR_COUNT, "children"),
    Output(ids.TIMELINE, "figure"),
    Input(ids.INTERVAL, "n_intervals"), State(ids.BAR_COUNT, "children"),
)
@requires(Role.VIEWER)
def refresh_price(_n: int | None, shown: str | None):
    symbol = _index()
    if symbol is None:
        return no_update, "no instruments yet", no_update
    frame = queries.bars(symbol, PRICE_BARS)
    if frame.empty:
        return no_update, "no bars yet", no_update
    hist = _history(HISTORY_ROWS, symbol)
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
    hist = _history(HISTORY_ROWS, _index())
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
    symbol = _index()
    latest = _latest(symbol)
    hist = _history(HISTORY_ROWS, symbol)
    cat = _catalogue()
    names = {int(r["regime_id"]): str(r["regime_name"]) for r in cat["regimes"]}
    with get_context().store.read() as session:
        params = active_params(session)
        verdict = latest.get("ensemble") if latest else None
        model = model_store.in_force(session, latest["symbol"] if latest else symbol, verdict, model_key(params))
    card = eviews.ensemble_card(verdict, names, model, latest.get("effective") if latest else None,
                                EnsembleConfig.of(params).enabled)
    return card, eviews.reliability_figure(reliability_report(hist, params))
