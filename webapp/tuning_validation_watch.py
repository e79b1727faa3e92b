"""The Parameters page's watch over its version validation (a background job): a job whose worker was killed
said nothing, and the page waited for ever (Celery: the job stays "started") or went quiet (diskcache: dash ends
a job without a result with no update). The Validate click notes the version and the database's time in WATCH;
while it is set, WATCH_POLL asks engine/tuning/validation_runs.judge every WATCH_MS, which reads the heartbeat
the job stamps: a stopped validation is said in the validation area (nothing was proposed or applied), the
running state is ended so Validate can be clicked again, and the watch stops. A validation that ended by itself
stops the watch without a word: its own answer (its table, or why not) is on the page."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from components.ids import parameters as parameters_ids
from engine.auth.roles import Role
from engine.tuning import validation_runs
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.form_ids import FormIdError, parse_id
from webapp.inputs import is_click
from webapp.wiring import Callbacks

WATCH = "parameters-tuning-validation-watch"  # dcc.Store: {"version", "since"} of the validation started here
WATCH_POLL = "parameters-tuning-validation-poll"  # dcc.Interval: on while WATCH is set
WATCH_MS = 3000

watch_callbacks = Callbacks()  # registered with the Parameters page's (webapp/tuning_views.py)


def watch_components() -> list[Any]:
    return [dcc.Store(id=WATCH), dcc.Interval(id=WATCH_POLL, interval=WATCH_MS, disabled=True)]


def note_start(n: object, version_id: object) -> tuple[Any, Any]:
    """The Validate click: note which version and when (the database's time), and start watching."""
    if not is_click(n) or version_id in (None, ""):
        return no_update, no_update
    try:
        version = parse_id(version_id, "the version to validate", "version")
    except FormIdError:
        return no_update, no_update  # the job itself says why
    return {"version": version, "since": validation_runs.now(get_context().store).isoformat()}, False


STOPPED_UI = ({"display": "none"}, False, True)  # progress hidden, Validate enabled, Cancel disabled


def check(_n: object, watch: Any, stale_after_s: float = validation_runs.STALE_S) -> tuple[Any, ...]:
    """(validation area, WATCH, WATCH_POLL disabled, progress style, Validate disabled, Cancel disabled)."""
    idle = (no_update, None, True, no_update, no_update, no_update)
    if not isinstance(watch, dict) or not isinstance(watch.get("version"), int):
        return idle
    try:
        since = datetime.fromisoformat(str(watch.get("since")))
    except ValueError:
        return idle
    verdict = validation_runs.judge(get_context().store, watch["version"], since, stale_after_s)
    if verdict.state == "running":
        raise PreventUpdate  # keep waiting: nothing to change
    if verdict.state == "ended":
        return idle
    return (html.Div(verdict.message, className="text-danger small"),
            None, True, *STOPPED_UI)


@watch_callbacks(Output(WATCH, "data"), Output(WATCH_POLL, "disabled"),
                 Input(parameters_ids.TUNING_VALIDATE, "n_clicks"), State(parameters_ids.TUNING_VERSION, "value"),
                 prevent_initial_call=True)
@requires(Role.TRADER)
def _note_start(n: object, version_id: object) -> tuple[Any, Any]:
    return note_start(n, version_id)


@watch_callbacks(Output(parameters_ids.TUNING_VALIDATION, "children", allow_duplicate=True),
                 Output(WATCH, "data", allow_duplicate=True), Output(WATCH_POLL, "disabled", allow_duplicate=True),
                 Output(parameters_ids.TUNING_PROGRESS_WRAP, "style", allow_duplicate=True),
                 Output(parameters_ids.TUNING_VALIDATE, "disabled", allow_duplicate=True),
                 Output(parameters_ids.TUNING_CANCEL, "disabled", allow_duplicate=True),
                 Input(WATCH_POLL, "n_intervals"), State(WATCH, "data"), prevent_initial_call=True)
@requires(Role.TRADER)
def _check(n: object, watch: Any) -> tuple[Any, ...]:
    return check(n, watch)
