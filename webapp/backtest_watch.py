"""The Backtest page's watch over the run it started, for the runs whose job never answers: with Celery, a worker
killed mid-run leaves its task "started" and Dash polls it for ever (Run disabled, the progress showing), and a run
no worker takes stays queued with no word. The stored run says what happened (engine/backtest/run_jobs.py: the
job's heartbeat, end_dead_jobs), so the page asks the store.

The Run click's job data (ids.JOB: the recorded run) starts the watch: WATCH holds the run, and WATCH_POLL asks
`check` every WATCH_MS, which ends the dead runs first (end_dead_jobs, the database's clock) and reads the run:

- still queued (no job claimed it): "waiting for a background worker", said once; once a job claims it, "started";
- ended by end_dead_jobs (its job died, or no worker took it within run_jobs.NO_WORKER_S): its stored message at
  once, Run enabled again, Cancel disabled, the progress hidden, and the watch stops;
- ended otherwise (done, cancelled, failed by the job itself): the job's own answer is on its way (Dash polls it
  every 500 ms) and says more (the outcome, the notes), so the watch waits one more poll and says the stored
  message only if that answer never came;
- the job answered (ids.RUNS_CHANGED names the run): the watch stops without a word, whatever the store says.

After it has spoken WATCH is empty and WATCH_POLL off, so the message is said once.
"""
from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from components.ids import backtest as ids
from engine.auth.roles import Role
from engine.backtest import run_jobs, runs
from engine.backtest.inputs import BacktestError
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.wiring import Callbacks

WATCH_MS = 3000

watch_callbacks = Callbacks()  # registered by pages/backtest.py


def watch_components() -> list[Any]:
    return [dcc.Store(id=ids.WATCH), dcc.Interval(id=ids.WATCH_POLL, interval=WATCH_MS, disabled=True)]


def _run_id(value: Any) -> int | None:
    run_id = value.get("run_id") if isinstance(value, dict) else None
    return run_id if isinstance(run_id, int) and not isinstance(run_id, bool) else None


def note_start(job: Any) -> tuple[Any, Any]:
    """The run recorded by the Run click (the job's data): watch it."""
    run_id = _run_id(job)
    if run_id is None:
        return no_update, no_update
    return {"run_id": run_id}, False


def waiting_text(row: runs.RunSummary, unclaimed_after_s: float = run_jobs.NO_WORKER_S) -> html.Span:
    queued = run_jobs.waiting_since(row.message) or row.created_at
    return html.Span(f"run #{row.id} is waiting for a background worker (queued at {queued:%H:%M:%S} UTC); if none "
                     f"takes it within {run_jobs.span(unclaimed_after_s)} it ends as failed and nothing runs",
                     className="text-muted", id=ids.WAITING)


def ended_alert(row: runs.RunSummary) -> dbc.Alert:
    """The stored end of a run whose job did not answer."""
    if row.status == "done":
        return dbc.Alert(f"run #{row.id} finished; open it from the stored runs", color="success",
                         id=ids.WATCH_ENDED)
    why = f": {row.message}" if row.message and not run_jobs.is_job_mark(row.message) else ""
    return dbc.Alert(f"run #{row.id} {row.status}{why}", color="secondary" if row.status == "cancelled" else "warning",
                     id=ids.WATCH_ENDED)


STOPPED_UI = (False, True, {"display": "none"})  # Run enabled, Cancel disabled, progress hidden


def check(_n: object, changed: Any, watch: Any, stale_after_s: float = run_jobs.STALE_S,
          unclaimed_after_s: float = run_jobs.NO_WORKER_S) -> tuple[Any, ...]:
    """(status, WATCH, WATCH_POLL disabled, Run disabled, Cancel disabled, progress style)."""
    idle = (no_update, None, True, no_update, no_update, no_update)
    run_id = _run_id(watch)
    if run_id is None:
        return idle
    if isinstance(changed, dict) and changed.get("run") == run_id:
        return idle  # the job answered: its word is on the page
    store = get_context().store
    run_jobs.end_dead_jobs(store, stale_after_s=stale_after_s, unclaimed_after_s=unclaimed_after_s)
    try:
        row = runs.get_run(store, run_id)
    except BacktestError:
        return idle  # not a stored run (any more): nothing to watch
    if row.status == "running":
        waiting = row.message is None or run_jobs.waiting_since(row.message) is not None
        shown = "waiting" if waiting else "started"
        if watch.get("shown", "started") == shown:
            raise PreventUpdate  # said already (a run claimed at once needs no word: the click said "started")
        said = waiting_text(row, unclaimed_after_s) if waiting else html.Span(f"run #{run_id} started…",
                                                                               className="text-muted")
        return said, {**watch, "shown": shown}, no_update, no_update, no_update, no_update
    if not run_jobs.ended_by_judgement(row.message) and not watch.get("ended"):
        return no_update, {**watch, "ended": True}, no_update, no_update, no_update, no_update  # its answer is due
    return ended_alert(row), None, True, *STOPPED_UI


@watch_callbacks(Output(ids.WATCH, "data"), Output(ids.WATCH_POLL, "disabled"),
                 Input(ids.JOB, "data"), prevent_initial_call=True)
@requires(Role.TRADER)
def _note_start(job: Any) -> tuple[Any, Any]:
    return note_start(job)


@watch_callbacks(Output(ids.STATUS, "children", allow_duplicate=True),
                 Output(ids.WATCH, "data", allow_duplicate=True), Output(ids.WATCH_POLL, "disabled", allow_duplicate=True),
                 Output(ids.RUN, "disabled", allow_duplicate=True), Output(ids.CANCEL, "disabled", allow_duplicate=True),
                 Output(ids.PROGRESS_WRAP, "style", allow_duplicate=True),
                 Input(ids.WATCH_POLL, "n_intervals"), Input(ids.RUNS_CHANGED, "data"), State(ids.WATCH, "data"),
                 prevent_initial_call=True)
@requires(Role.TRADER)
def _check(n: object, changed: Any, watch: Any) -> tuple[Any, ...]:
    return check(n, changed, watch)
