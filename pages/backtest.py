"""Backtest: would this parameter version or preset have made money, in which regimes, against another run?

Traders run backtests (the engine's own jobs on a simulated clock, see engine/backtest/) in a background
job with progress and cancel; everyone may open, compare and download stored runs.
"""
from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from components import backtest_views as bv
from components.charts import graph
from components.ids import backtest as ids
from components.ids import parameters as parameters_ids
from components.shell import page_header
from components.tables import column, records_grid
from engine.auth.roles import Role
from engine.backtest import runs
from engine.backtest.inputs import BacktestCancelled, BacktestError
from webapp import backtest_jobs as jobs
from webapp import backtest_page_data as data
from webapp import backtest_watch
from webapp.auth.access import requires, role_gate
from webapp.background import job_store
from webapp.context import get_context
from webapp.control_actions import web_actor
from webapp.inputs import is_click

dash.register_page(__name__, path="/backtest", name="Backtest", order=6.5)
backtest_watch.watch_callbacks.register()  # a run whose job never answers (worker killed, none free) still ends

FORM = [State(ids.SOURCE, "value"), State(ids.CSV_DIR, "value"), State(ids.START, "value"),
        State(ids.END, "value"), State(ids.CASH, "value"), State(ids.VERSION, "value"),
        State(ids.PRESET, "value"), State(ids.NAME, "value")]
DEFAULT_SOURCE = "stored"
PARAMETERS_EDITS_STORE = parameters_ids.EDITS  # the Parameters page's pending edits (session storage, shared)
FILL_COLUMNS = [column(c) for c in ("ts", "symbol", "side", "qty", "price", "commission", "client_order_id")]
TRIP_COLUMNS = [column(c) for c in ("symbol", "direction", "qty", "entry_ts", "entry_price", "exit_ts", "exit_price",
                                    "pnl", "return")]


def _form(source: Any, csv_dir: Any, start: Any, end: Any, cash: Any, version: Any, preset: Any,
          name: Any) -> dict[str, Any]:
    return {"source": source, "csv_dir": csv_dir, "start": start, "end": end, "cash": cash, "version": version,
            "preset": preset, "name": name}


def _form_card() -> dbc.Card:
    """The form, its choices read now (the layout is built per request): a dropdown given its value and its
    options together never shows blank, as it did while a callback raced to fill the options in."""
    ctx = get_context()
    max_bytes = ctx.settings.max_upload_bytes
    csv_style, upload_style = data.source_input_styles(DEFAULT_SOURCE)
    return dbc.Card(dbc.CardBody([
        html.H5("Run a backtest"),
        dbc.Label("Market data"),
        dbc.RadioItems(id=ids.SOURCE, value=DEFAULT_SOURCE, inline=True, options=[
            {"label": "stored history", "value": "stored"}, {"label": "CSV folder", "value": "csv"},
            {"label": "uploaded CSV", "value": "upload"}]),
        # Each source's own input, shown only while that source is chosen (show_source_inputs); hidden, not
        # removed, so the form still reads their values.
        html.Div(dcc.Dropdown(id=ids.CSV_DIR, placeholder="folder under data/backtest/", className="mb-1",
                              options=[{"label": k, "value": k} for k in jobs.csv_choices(ctx.settings)]),
                 id=ids.CSV_DIR_WRAP, style=csv_style),
        html.Div([
            # No accept= or max_size=: the browser would drop such a file silently. Every file goes to
            # take_upload, which says why it is refused; the server's MAX_CONTENT_LENGTH (app.py) still bounds
            # the request.
            dcc.Upload(id=ids.UPLOAD, children=html.Div(["Drop a CSV here or ", html.A("choose one")]),
                       className="border rounded p-2"),
            html.Div(jobs.upload_hint(max_bytes), className="small text-muted"),
            html.Div(id=ids.UPLOAD_STATUS, className="small text-muted mb-2"),
        ], id=ids.UPLOAD_WRAP, style=upload_style),
        dbc.Row([dbc.Col([dbc.Label("Start (UTC)"), dbc.Input(id=ids.START, placeholder="YYYY-MM-DD, empty: first bar")]),
                 dbc.Col([dbc.Label("End (UTC)"), dbc.Input(id=ids.END, placeholder="YYYY-MM-DD, empty: last bar")])]),
        # Text, not type="number": a number input sends None for anything it finds invalid (empty, "e", below
        # its min), so the server could not say what is wrong; build_spec checks what was typed.
        dbc.Label("Starting cash"), dbc.Input(id=ids.CASH, type="text", inputMode="decimal", value=1_000_000),
        dbc.Label("Parameter version"), dcc.Dropdown(id=ids.VERSION, value="active", clearable=False,
                                                     options=data.version_options(ctx.store)),
        dbc.Label("Planner preset"), dcc.Dropdown(id=ids.PRESET, value="default", clearable=False,
                                                  options=data.preset_options(ctx.store)),
        dbc.Label("Name (optional)"), dbc.Input(id=ids.NAME, maxLength=120),
        dbc.ButtonGroup([dbc.Button("Run backtest", id=ids.RUN, color="primary", size="sm", **role_gate(Role.TRADER)),
                         dbc.Button("Cancel", id=ids.CANCEL, color="secondary", size="sm", disabled=True)],
                        className="mt-2"),
        html.Div(dbc.Progress(id=ids.PROGRESS, value=0, label="", striped=True, animated=True),
                 id=ids.PROGRESS_WRAP, style={"display": "none"}, className="mt-2"),
        html.Div(id=ids.STATUS, className="mt-2"),
    ]))


def layout(**_kwargs: object) -> html.Div:
    return html.Div([
        page_header("Backtest", "The engine's own jobs replayed over history: what a version or preset would have done"),
        dcc.Store(id=PARAMETERS_EDITS_STORE, storage_type="session"),
        dcc.Store(id=ids.JOB), dcc.Store(id=ids.UPLOAD_DATA), dcc.Store(id=ids.RUNS_CHANGED, data={}),
        dcc.Download(id=ids.DOWNLOAD), *backtest_watch.watch_components(),
        dbc.Row([
            dbc.Col(_form_card(), md=4),
            dbc.Col([
                dbc.Row([dbc.Col(dcc.Dropdown(id=ids.RUN_A, placeholder="open a stored run")),
                         dbc.Col(dcc.Dropdown(id=ids.RUN_B, placeholder="compare with…"))], className="g-2"),
                html.Div(id=ids.RUN_INFO, className="small text-muted my-1"),
                dbc.InputGroup([dbc.Select(id=ids.DOWNLOAD_KIND, value="equity.csv", options=[
                    {"label": n, "value": n} for n in ("equity.csv", "orders.csv", "fills.csv", "metrics.json",
                                                        "parameters.xlsx")]),
                    dbc.Button("Download", id=ids.DOWNLOAD_BUTTON, size="sm")], size="sm", className="mb-2"),
                graph(ids.EQUITY, bv.empty_figure("open or run a backtest")),
                graph(ids.DRAWDOWN, bv.empty_figure(bv.WAITING["drawdown"])),
            ], md=8),
        ], className="g-2"),
        dcc.Dropdown(id=ids.SYMBOL, placeholder="symbol", clearable=False, className="mt-2"),
        graph(ids.PRICE, bv.empty_figure(bv.WAITING["price"])),
        html.Div(id=ids.SYMBOL_PNL, className="small mb-2"),
        graph(ids.DAILY, bv.empty_figure(bv.WAITING["daily"])),
        html.H6("Metrics"), html.Div(id=ids.METRICS),
        html.H6("P&L per regime", className="mt-3"), html.Div(id=ids.REGIMES),
        html.H6("Round trips (first run)", className="mt-3"), records_grid(ids.TRADES, TRIP_COLUMNS, 260),
        html.H6("Fills (first run)", className="mt-3"), records_grid(ids.FILLS, FILL_COLUMNS, 260),
    ])


@dash.callback(
    Output(ids.RUN_A, "options"), Output(ids.RUN_B, "options"), Output(ids.RUN_A, "value"),
    Input(ids.RUNS_CHANGED, "data"),
)
@requires(Role.VIEWER)
def fill_choices(changed: Any):
    """The stored runs; a run that just finished is opened (set with its options). The form's own choices
    are built with the layout."""
    stored = data.run_options(get_context().store)
    opened = changed.get("open") if isinstance(changed, dict) else None
    return (stored, stored,
            opened if isinstance(opened, int) and any(o["value"] == opened for o in stored) else no_update)


@dash.callback(
    Output(ids.CSV_DIR_WRAP, "style"), Output(ids.UPLOAD_WRAP, "style"),
    Input(ids.SOURCE, "value"),
)
@requires(Role.VIEWER)
def show_source_inputs(source: Any):
    """The CSV folder only for the CSV source, the upload only for an uploaded CSV, neither for stored history."""
    return data.source_input_styles(source)


@dash.callback(
    Output(ids.UPLOAD_DATA, "data"), Output(ids.UPLOAD_STATUS, "children"),
    Input(ids.UPLOAD, "contents"), State(ids.UPLOAD, "filename"), State(ids.UPLOAD_DATA, "data"),
    prevent_initial_call=True,
)
@requires(Role.TRADER)
def take_upload(contents: str | None, filename: str | None, pending: Any):
    """Check an uploaded CSV; a refused one is not taken and an earlier accepted upload stays the run's data."""
    if not isinstance(contents, str) or not contents:
        return no_update, no_update
    name = str(filename or "upload.csv")[:200]
    try:
        frames = data.check_upload(contents, name, get_context().settings.max_upload_bytes)
    except BacktestError as exc:
        earlier = pending.get("filename") if isinstance(pending, dict) and pending.get("contents") else None
        kept = f"the earlier upload {str(earlier)[:200]} stays" if earlier else "no upload is pending"
        return no_update, html.Span(f"{name} was refused: {exc} — {name} was not taken; {kept}.",
                                    className="text-danger", id=ids.UPLOAD_ERROR)
    summary = ", ".join(f"{s} ({len(f):,} bars)" for s, f in sorted(frames.items()))
    why = jobs.nothing_to_trade(frames, next(iter(frames))) if len(frames) == 1 else None
    return {"contents": contents, "filename": name}, f"{name}: {summary}" + (f"; note: {why}" if why else "")


@dash.callback(
    Output(ids.JOB, "data"), Output(ids.STATUS, "children", allow_duplicate=True),
    Input(ids.RUN, "n_clicks"), *FORM, State(ids.UPLOAD_DATA, "data"), State(PARAMETERS_EDITS_STORE, "data"),
    prevent_initial_call=True,
)
@requires(Role.TRADER)
def start_run(n: int | None, *rest: Any):
    """Check the inputs and record the run (audited with the user); the background job below runs it."""
    if not is_click(n):
        return no_update, no_update
    form, upload, edits = _form(*rest[:-2]), rest[-2] if isinstance(rest[-2], dict) else None, rest[-1]
    ctx = get_context()
    try:
        built = jobs.build_spec(form, upload, ctx.store, ctx.settings, edits)
        run_id = runs.create_run(ctx.store, built.spec, author=web_actor(), data_source=built.data_source,
                                 name=str(form.get("name") or ""), param_version_id=built.version_id)
    except BacktestError as exc:  # create_run: e.g. an index symbol longer than the record keeps
        return no_update, dbc.Alert(str(exc), color="warning", id=ids.ERROR)
    return {"run_id": run_id, **jobs.pin(built)}, html.Span(f"run #{run_id} started…", className="text-muted")


@dash.callback(
    Output(ids.STATUS, "children"), Output(ids.RUNS_CHANGED, "data"),
    Input(ids.JOB, "data"), *FORM, State(ids.UPLOAD_DATA, "data"), State(PARAMETERS_EDITS_STORE, "data"),
    background=True,
    progress=[Output(ids.PROGRESS, "value"), Output(ids.PROGRESS, "label")],
    progress_default=[0, ""],
    running=[(Output(ids.RUN, "disabled"), True, False), (Output(ids.CANCEL, "disabled"), False, True),
             (Output(ids.PROGRESS_WRAP, "style"), {"display": "block"}, {"display": "none"})],
    cancel=[Input(ids.CANCEL, "n_clicks")],
    interval=500,
    prevent_initial_call=True,
)
@requires(Role.TRADER)
def run_job(set_progress, job: dict | None, *rest: Any):
    """In a background process: rebuild the same spec from the same form, with the parameters fixed at the click
    (the job's data), and run the recorded backtest."""
    if not isinstance(job, dict) or not isinstance(job.get("run_id"), int):
        return no_update, no_update
    form, upload, edits = _form(*rest[:-2]), rest[-2] if isinstance(rest[-2], dict) else None, rest[-1]
    run_id = int(job["run_id"])
    changed = {"run": run_id, "open": run_id}
    set_progress((1, "loading the market data…"))
    try:
        with job_store() as store:
            outcome = jobs.run_pinned(run_id, job, form, upload, store, data.job_settings(), edits,
                                      lambda f, text: set_progress((max(1.0, 100 * f), text)))
    except BacktestCancelled as exc:
        return dbc.Alert(str(exc), color="secondary", id=ids.CANCELLED), {"run": run_id}
    except BacktestError as exc:
        return dbc.Alert(str(exc), color="warning", id=ids.ERROR), {"run": run_id}
    return dbc.Alert(outcome, color="success", id=ids.DONE), changed


@dash.callback(
    Output(ids.STATUS, "children", allow_duplicate=True),
    Input(ids.CANCEL, "n_clicks"), State(ids.JOB, "data"),
    prevent_initial_call=True,
)
@requires(Role.TRADER)
def cancel_run(n: int | None, job: dict | None):
    if not is_click(n) or not isinstance(job, dict) or not isinstance(job.get("run_id"), int):
        return no_update
    done = runs.cancel_run(get_context().store, int(job["run_id"]), web_actor())
    return dbc.Alert(f"run #{job['run_id']} cancelled" if done else f"run #{job['run_id']} had already ended",
                     color="secondary", id=ids.CANCELLED)


@dash.callback(
    Output(ids.EQUITY, "figure"), Output(ids.DRAWDOWN, "figure"), Output(ids.DAILY, "figure"),
    Output(ids.METRICS, "children"),
    Output(ids.REGIMES, "children"), Output(ids.TRADES, "rowData"), Output(ids.FILLS, "rowData"),
    Output(ids.SYMBOL, "options"), Output(ids.RUN_INFO, "children"),
    Input(ids.RUN_A, "value"), Input(ids.RUN_B, "value"),
)
@requires(Role.VIEWER)
def show_runs(run_a: Any, run_b: Any):
    return data.show(get_context().store, run_a, run_b)


@dash.callback(
    Output(ids.PRICE, "figure"), Output(ids.SYMBOL, "value"), Output(ids.SYMBOL_PNL, "children"),
    Input(ids.RUN_A, "value"), Input(ids.RUN_B, "value"), Input(ids.SYMBOL, "value"), Input(ids.SYMBOL, "options"),
)
@requires(Role.VIEWER)
def show_symbol(run_a: Any, run_b: Any, symbol: str | None, options: list[dict] | None):
    return data.symbol_chart(get_context().store, data.shown_run(run_a, run_b), symbol, options or [])


@dash.callback(
    Output(ids.DOWNLOAD, "data"), Input(ids.DOWNLOAD_BUTTON, "n_clicks"),
    State(ids.RUN_A, "value"), State(ids.RUN_B, "value"), State(ids.DOWNLOAD_KIND, "value"),
    prevent_initial_call=True,
)
@requires(Role.VIEWER)
def download(n: int | None, run_a: Any, run_b: Any, kind: str | None):
    """The opened run's file; with only a "compare with" run chosen, that run's (it is the one shown)."""
    if not is_click(n):
        return no_update
    return data.download_chosen(get_context().store, run_a, run_b, str(kind or "equity.csv"))
