"""The Backtest page's reads: choices for the form, stored runs turned into figures and tables, downloads."""
from __future__ import annotations

from datetime import datetime, time
from types import SimpleNamespace
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html, no_update, set_props

from components import backtest_views as bv
from components.formatting import money
from components.ids import backtest as ids
from components.metric_display import format_metric
from engine.analytics import open_lots, round_trips
from engine.analytics.definitions import definitions_for
from engine.backtest import run_jobs, runs
from engine.backtest.inputs import BacktestError
from engine.backtest.upload import frames_from_upload
from engine.market.exchange import MarketCalendar, calendar_for_settings
from engine.params.versions import list_versions
from engine.planner.api import list_presets
from engine.settings import Settings
from engine.store import regime_queries as rq
from engine.store.db import Store
from engine.store.models import BacktestRun
from webapp.backtest_jobs import TABLE, decode_csv_upload
from webapp.context import EXTENSION_KEY, get_context
from webapp.csv_safety import spreadsheet_safe_csv
from webapp.form_ids import FormIdError, parse_id
from webapp.performance_symbol import fill_roles
from webapp.regime_colours import with_display_colours


def job_settings() -> Settings:
    """The serving app's settings, also inside a background job's process (no Flask app context there)."""
    try:
        return get_context().settings
    except RuntimeError:
        return dash.get_app().server.extensions[EXTENSION_KEY].settings


SHOWN: dict[str, str] = {}
RUN_A_WORDS = "the stored run to open"  # the run pickers as the page shows them ("open a stored run")
RUN_B_WORDS = "the run to compare with"  # ("compare with…")
HIDDEN = {"display": "none"}
SOURCE_INPUTS = {"csv": "csv_dir", "upload": "upload"}  # a data source -> the input it needs (stored: none)
RUN_CHOICES = 200  # the newest finished runs the pickers offer


def source_input_styles(source: Any) -> tuple[dict[str, str], dict[str, str]]:
    """(CSV folder, upload) wrapper styles for the chosen data source: only the input that source reads is
    shown; the stored history needs neither. Hidden inputs keep their values (the form still reads them)."""
    needs = SOURCE_INPUTS.get(source) if isinstance(source, str) else None
    return (dict(SHOWN if needs == "csv_dir" else HIDDEN), dict(SHOWN if needs == "upload" else HIDDEN))


def version_options(store: Store) -> list[dict[str, Any]]:
    with store.read() as s:
        versions = list_versions(s, limit=50)
    opts = [{"label": "the active version", "value": "active"},
            {"label": "the pending edits of the Parameters page", "value": "pending"}]
    return opts + [{"label": f"version {v.id} ({v.source} by {v.author}, {v.created_at:%Y-%m-%d %H:%M})"
                    + (" – active" if v.is_active else ""), "value": str(v.id)} for v in versions]


def preset_options(store: Store) -> list[dict[str, Any]]:
    with store.read() as s:
        names = list(list_presets(s))
    return [{"label": n, "value": n} for n in names] + [{"label": "the regime → preset table", "value": TABLE}]


def run_options(store: Store) -> list[dict[str, Any]]:
    """The runs the pickers offer: the newest RUN_CHOICES finished ones (chosen in the query: failed or cancelled
    runs never push them out), since a failed, cancelled or running run has no results to open or compare (its
    reason is in the page's status when it ends). Runs whose job died on this machine are ended as failed first."""
    run_jobs.end_dead_jobs(store)
    return [{"label": r.label, "value": r.id} for r in runs.list_runs(store, RUN_CHOICES, status="done")]


def check_upload(contents: str, name: str, max_bytes: int) -> dict[str, Any]:
    return frames_from_upload(decode_csv_upload(contents, max_bytes), name)


def _colours(store: Store) -> dict[str, str]:
    with store.read() as s:
        cat = with_display_colours(rq.regime_catalogue(s))
    return {r["regime_name"]: r["color"] for r in cat["regimes"]}


def _unfinished(info: runs.RunSummary) -> str | None:
    """Why a run has no results (it is running, failed or cancelled), or None when it finished."""
    if info.status == "done":
        return None
    shown = info.message if info.message and not run_jobs.is_job_mark(info.message) else None
    if info.status == "running" and run_jobs.waiting_since(info.message) is not None:
        shown = "waiting for a background worker"
    return f"run #{info.id} is {info.status}" + (f": {shown}" if shown else "")


def _settings() -> Settings | None:
    try:
        return get_context().settings
    except RuntimeError:  # no app context (a script): the run's workbook's zone alone decides
        return None


def run_calendar(store: Store, run_id: int, settings: Settings | None = None) -> MarketCalendar | None:
    """The days the run's own risk engine counted (its daily-loss day): a backtest's market is a CSV source
    (engine/backtest/private.py), so calendar_for_settings gives REGIMEDESK_MARKET_TIMEZONE when set, else the run's
    workbook's market_timezone; the Performance page passes its calendar to the same daily P&L. None (UTC days)
    when the zone is unknown."""
    source = SimpleNamespace(market_source="csv", market_timezone=getattr(settings or _settings(), "market_timezone", None))
    try:
        return calendar_for_settings(source, runs.market_timezone(store, run_id))
    except Exception:  # noqa: BLE001 - an unknown zone name: UTC days, as before
        return None


def run_view(store: Store, run_id: int) -> bv.RunView:
    info = runs.get_run(store, run_id)
    why = _unfinished(info)
    if why is not None:
        raise BacktestError(why)
    with store.read() as s:
        row = s.get(BacktestRun, run_id)
        if row is None:  # deleted between the two reads
            raise BacktestError(f"run #{run_id} no longer exists")
        index = row.index_symbol
    return bv.RunView(label=f"#{run_id} {info.name}", equity=runs.load_table(store, run_id, "equity.csv"),
                      fills=runs.load_table(store, run_id, "fills.csv"), prices=runs.load_table(store, run_id, "prices.csv"),
                      index_symbol=index, metrics=info.metrics or {}, calendar=run_calendar(store, run_id))


def _definitions(metrics: dict[str, Any]) -> dict[str, str]:
    days = metrics.get("days_per_year")  # absent from runs stored before the market's calendar was read
    return definitions_for(float(metrics.get("periods_per_year") or 252.0), float(metrics.get("risk_free") or 0.0),
                           days=float(days) if isinstance(days, int | float) else None)


def show(store: Store, run_a: Any, run_b: Any) -> tuple[Any, ...]:
    """The chosen runs that finished; one that did not (or no longer exists) is named with the reason in the
    run info, and the other run is still shown: one bad run must not blank the comparison."""
    chosen, bad_picks = chosen_runs(run_a, run_b)
    if not chosen and not bad_picks:
        return (bv.empty_figure("open or run a backtest"), bv.empty_figure(bv.WAITING["drawdown"]),
                bv.empty_figure(bv.WAITING["daily"]), "", "", [], [], [], "")
    views: list[bv.RunView] = []
    infos: list[str] = []
    problems = [(p, "") for p in bad_picks]  # (why, what to know); a forged pick is no run, finished or not
    for run_id in chosen:
        try:
            infos.append(_info(runs.get_run(store, run_id)))
            views.append(run_view(store, run_id))
        except BacktestError as exc:
            problems.append((str(exc), " (only a finished run has results)"))
    lead = "Not compared" if views and len(chosen) + len(bad_picks) > 1 else "Nothing to show"
    notes = [html.Div(f"{lead}: {p}{note}", className="text-warning") for p, note in problems]
    notes += [html.Div(f"{v.label}: {v.metrics['note']}", className="text-warning")  # e.g. equity wiped out
              for v in views if v.metrics.get("note")]
    info = html.Div([html.Div(" · ".join(infos)), *notes]) if notes else " · ".join(infos)
    if not views:
        return (bv.empty_figure(f"{lead}: {problems[0][0]}"), bv.empty_figure(bv.WAITING["drawdown"]),
                bv.empty_figure(bv.WAITING["daily"]), "", "", [], [],
                [], info)

    first = views[0]
    trips = round_trips(first.fills.assign(**{c: first.fills[c].astype(float) for c in ("qty", "price", "commission")}))
    each = [_definitions(dict(v.metrics)) for v in views]  # runs on other bars are annualised otherwise
    symbols = [c for c in first.prices.columns if c != "timestamp"]
    return (bv.equity_figure(views), bv.drawdown_figure(views), bv.daily_pnl_figure(views),
            bv.metrics_table(views, each[0], each), bv.regime_table(views, each[0], each), bv.records(trips),
            bv.records(first.fills),
            [{"label": s, "value": s} for s in symbols], info)


def _when(ts: datetime) -> str:
    """A range bound as chosen: the day alone for a whole day (a date typed into the form), else to the minute."""
    whole_day = ts.time() in (time(0, 0), time(23, 59, 59, 999_999))
    return f"{ts:%Y-%m-%d}" if whole_day else f"{ts:%Y-%m-%d %H:%M}"


def _info(r: runs.RunSummary) -> str:
    span = _when(r.start_ts) if r.start_ts else "start of data"
    span += f" → {_when(r.end_ts)}" if r.end_ts else " → end of data"
    return (f"#{r.id}: {r.data_label}, {span}, cash {money(r.cash, 0)}, {r.params_label}, preset {r.preset_name}, "
            f"{r.bars:,} bars, by {r.author}")


def symbol_pnl(view: bv.RunView, symbol: str) -> str:
    """Realised P&L of the symbol's closed round trips (FIFO, net of commission), win rate, and the
    unrealised P&L of its open lots at the run's last close."""
    mine = view.fills[view.fills["symbol"] == symbol]
    fills = mine.assign(**{c: mine[c].astype(float) for c in ("qty", "price", "commission")})
    trips, lots = round_trips(fills), open_lots(fills)
    wins = float((trips["pnl"] > 0).mean()) if len(trips) else None
    last = float(view.prices[symbol].dropna().iloc[-1]) if symbol in view.prices and len(view.prices) else None
    held = float(lots["qty"].sum()) if len(lots) else 0.0
    unreal = float((lots["qty"] * (last - lots["entry_price"])).sum()) if len(lots) and last is not None else 0.0
    return (f"{symbol}: realised {money(float(trips['pnl'].sum()) if len(trips) else 0.0)} over {len(trips)} round "
            f"trip(s), win rate {format_metric('win_rate', wins)}; unrealised {money(unreal)} on {held:g} held at the last close "
            f"{'—' if last is None else f'{last:,.2f}'}")


def symbol_chart(store: Store, run_id: Any, symbol: str | None, options: list[dict]) -> tuple[Any, Any, Any]:
    """The price chart of `symbol` in run `run_id` (the shown run, shown_run) with its fills, and its P&L line."""
    figure, value = _symbol_figure(store, run_id, symbol, options)
    shown = value if value is not no_update else symbol
    if not isinstance(run_id, int) or not isinstance(shown, str):
        return figure, value, ""
    try:
        return figure, value, symbol_pnl(run_view(store, run_id), shown)
    except BacktestError:
        return figure, value, ""


def _symbol_figure(store: Store, run_id: Any, symbol: str | None, options: list[dict]) -> tuple[Any, Any]:
    if not isinstance(run_id, int):
        return bv.empty_figure(bv.WAITING["price"]), no_update
    try:
        view = run_view(store, run_id)
    except BacktestError as exc:
        return bv.empty_figure(str(exc)), no_update
    names = [str(o.get("value")) for o in options if isinstance(o, dict)]
    chosen = symbol if isinstance(symbol, str) and symbol in names else None
    if chosen is None:  # the first traded symbol, else the first one
        traded = sorted(set(view.fills["symbol"]))
        chosen = traded[0] if traded else (names[0] if names else None)
    if chosen is None:
        return bv.empty_figure("no symbols in this run"), no_update
    mine = view.fills[view.fills["symbol"] == chosen]
    return bv.price_figure(view, chosen, _colours(store), fill_roles(mine) if len(mine) else []), chosen


def chosen_runs(run_a: Any, run_b: Any) -> tuple[list[int], list[str]]:
    """The run pickers' values as run ids (each once, the opened run first) and why a value is not one: a
    forged pick ("abc", 1.5, 10**30) is named in the page's words and never reaches the store."""
    runs_chosen: list[int] = []
    problems: list[str] = []
    for value, what in ((run_a, RUN_A_WORDS), (run_b, RUN_B_WORDS)):
        if value is None or value == "":
            continue
        try:
            if isinstance(value, str):  # the pickers' values are ints (run_options): text is a forged pick
                raise FormIdError(what, "run", value)
            run_id = parse_id(value, what, "run")
        except FormIdError as exc:
            problems.append(str(exc))
            continue
        if run_id not in runs_chosen:
            runs_chosen.append(run_id)
    return runs_chosen, problems


def shown_run(run_a: Any, run_b: Any) -> int | None:
    """The run whose trades, fills and symbol chart the page shows and whose files Download saves: the opened
    run, else the "compare with" run when it is the only one chosen; None when no run is chosen (a malformed
    pick counts as none: show() and download_chosen() say why)."""
    chosen, _problems = chosen_runs(run_a, run_b)
    return chosen[0] if chosen else None


def download_chosen(store: Store, run_a: Any, run_b: Any, kind: str) -> Any:
    """The Download button: the file of the run shown_run picks, or why there is none in the page's status."""
    run_id = shown_run(run_a, run_b)
    if run_id is None:
        _chosen, problems = chosen_runs(run_a, run_b)
        why = problems[0] if problems else "open a stored run first (or run a backtest)"
        set_props(ids.STATUS, {"children": dbc.Alert(f"Nothing to download: {why}", color="warning", id=ids.ERROR)})
        return no_update
    return download(store, run_id, kind)


def download(store: Store, run_id: int, kind: str) -> Any:
    """The file, or the reason there is none in the page's status (a click that does nothing looks broken).
    An unfinished run keeps only its parameters.xlsx: its metrics.json would be an empty, misleading '{}'."""
    if kind not in (*runs.TABLES, "metrics.json", "parameters.xlsx"):
        return no_update
    try:
        if kind == "parameters.xlsx":
            return dcc.send_bytes(runs.workbook(store, run_id), f"backtest-{run_id}-parameters.xlsx")
        why = _unfinished(runs.get_run(store, run_id))
        if why is not None:
            raise BacktestError(f"{why}, so it has no {kind} (only its parameters.xlsx)")
        text = runs.file_text(store, run_id, kind)  # stored as the CLI writes it; the web's copy is spreadsheet-safe
        return dcc.send_string(spreadsheet_safe_csv(text) if kind.endswith(".csv") else text,
                               f"backtest-{run_id}-{kind}")
    except BacktestError as exc:
        set_props(ids.STATUS, {"children": dbc.Alert(f"Nothing to download: {exc}", color="warning", id=ids.ERROR)})
        return no_update
