"""A version's backtest validation (the Parameters page's background job) whose worker was killed gave no word:
dash ends a diskcache job without a result with no update (the page went quiet; with Celery it waits for ever).
The job now stamps a heartbeat on its stored record, and the page's watch, started by the same Validate click,
says the validation stopped and that nothing was proposed or applied, ends the running state, and stores the
record as stopped. Over the page's callback requests, with the job's real process killed (SIGKILL)."""
from __future__ import annotations

import json
import os
import signal
import time
from datetime import datetime
from typing import Any

import psutil
import pytest

from engine.params.paramset import default_params
from engine.params.versions import apply_version
from engine.store.keyvalue import get_value
from engine.store.models import ParamVersion
from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.tuning_fixtures import no_trade, store_trend_bars, tuning_app

STALE_S = 30.0  # the page's threshold (engine/tuning/validation_runs.STALE_S, which the watch uses)


@pytest.fixture()
def app(any_db_url: str):  # type: ignore[no-untyped-def]
    with tuning_app(any_db_url) as served:
        yield served


def _record(ctx: Any, version: int) -> dict[str, Any]:
    with ctx.store.read() as s:
        value = get_value(s, f"tuning.validation.v{version}")
    return value if isinstance(value, dict) else {}


def _children(pid: int) -> set[int]:
    return {p.pid for p in psutil.Process(pid).children(recursive=True)}


@pytest.mark.slow  # a background job killed, then the page's threshold of silence
def test_a_killed_validation_is_reported_stopped_with_nothing_applied(app: Any) -> None:
    application, ctx = app
    store_trend_bars(ctx.store, 600)  # a validation of several seconds: it is killed while it runs
    apply_version(ctx.store, no_trade(default_params()), "alice", "ui", clock=ctx.clock)
    second = apply_version(ctx.store, default_params(), "alice", "ui", clock=ctx.clock)
    with ctx.store.read() as s:
        versions_before = s.query(ParamVersion).count()
    trader = login_client(application, "trader", "tess")
    deps = wr.dependencies(trader)
    click = {"parameters-tuning-validate.n_clicks": 1, "parameters-tuning-version.value": second.version_id}
    # the Validate click: the page's watch notes it (one request) and the job starts (another), as the browser does
    watch_dep = wr.find(deps, "parameters-tuning-validation-watch.data", "parameters-tuning-validate")
    noted = wr.call(trader, watch_dep, click, trigger="parameters-tuning-validate.n_clicks")
    assert noted.status_code == 200, noted.get_data(as_text=True)[:300]
    watch = json.loads(noted.get_data(as_text=True))["response"]["parameters-tuning-validation-watch"]["data"]
    assert watch["version"] == second.version_id
    before = _children(os.getpid())
    job_dep = wr.find(deps, "parameters-tuning-validation.children", "parameters-tuning-validate")
    body = wr.build_body(job_dep, {wr.position(job_dep, "parameters-tuning-validate", "n_clicks"): 1,
                                   wr.position(job_dep, "parameters-tuning-version", "value"): second.version_id}, 0)
    started = trader.post(wr.CALLBACK_URL, json=body)
    handles = json.loads(started.get_data(as_text=True))
    assert started.status_code == 200 and "job" in handles, handles
    check_dep = wr.find(deps, "parameters-tuning-validation.children", "parameters-tuning-validation-poll")

    def check() -> Any:
        return wr.call(trader, check_dep, {"parameters-tuning-validation-poll.n_intervals": 1,
                                           "parameters-tuning-validation-watch.data": watch},
                       trigger="parameters-tuning-validation-poll.n_intervals")

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (_record(ctx, second.version_id).get("status") == "running"
                                               and _children(os.getpid()) - before):
        time.sleep(0.2)
    record = _record(ctx, second.version_id)
    assert record.get("status") == "running", record
    jobs = _children(os.getpid()) - before
    assert len(jobs) == 1, jobs  # the diskcache manager's child running the validation
    job = jobs.pop()
    assert record["worker"].endswith(f":{job}")  # the record is that process's
    first_beat = datetime.fromisoformat(record["beat"])
    beat_deadline = time.monotonic() + 15  # the next beat (every 2 s): kill soon after, so the job is still running
    while time.monotonic() < beat_deadline and \
            datetime.fromisoformat(_record(ctx, second.version_id)["beat"]) <= first_beat:
        time.sleep(0.2)
    assert datetime.fromisoformat(_record(ctx, second.version_id)["beat"]) > first_beat  # it beats while it runs
    alive = check()
    assert alive.status_code == 204, (alive.get_data(as_text=True)[:600], _record(ctx, second.version_id))

    os.kill(job, signal.SIGKILL)  # the worker is killed mid-validation
    psutil.Process(job).wait(timeout=30) if psutil.pid_exists(job) else None
    last = datetime.fromisoformat(_record(ctx, second.version_id)["beat"])
    poll = json.loads(json.dumps(body))
    for entry in poll["inputs"] + poll["state"]:
        entry["value"] = None
    silent = trader.post(f"{wr.CALLBACK_URL}?cacheKey={handles['cacheKey']}&job={handles['job']}", json=poll)
    assert "response" not in json.loads(silent.get_data(as_text=True) or "{}")  # dash itself says nothing
    assert check().status_code == 204  # not judged before the threshold
    time.sleep(STALE_S + 2)
    reply = check()
    assert reply.status_code == 200, reply.get_data(as_text=True)[:300]
    out = json.loads(reply.get_data(as_text=True))["response"]
    text = json.dumps(out["parameters-tuning-validation"])
    assert f"The validation of version {second.version_id} stopped" in text, text
    assert f"no heartbeat since {last:%H:%M:%S} UTC" in text and "nothing was proposed or applied" in text, text
    assert out["parameters-tuning-validate"]["disabled"] is False  # Validate can be clicked again
    assert out["parameters-tuning-progress-wrap"]["style"] == {"display": "none"}
    assert out["parameters-tuning-validation-watch"]["data"] is None  # the watch stops
    assert _record(ctx, second.version_id)["status"] == "stopped"  # stored, not only shown
    with ctx.store.read() as s:
        assert s.query(ParamVersion).count() == versions_before  # nothing applied
    again = check()  # said once: the record is stopped now, so the same watch ends without a word
    assert "parameters-tuning-validation" not in json.loads(again.get_data(as_text=True))["response"]


def test_the_watch_stays_quiet_without_a_validation(app: Any) -> None:
    """No click noted: the watch reads nothing and answers nothing (it is off until Validate is clicked)."""
    application, _ctx = app
    trader = login_client(application, "trader", "tess")
    dep = wr.find(wr.dependencies(trader), "parameters-tuning-validation.children", "parameters-tuning-validation-poll")
    reply = wr.call(trader, dep, {"parameters-tuning-validation-poll.n_intervals": 1,
                                  "parameters-tuning-validation-watch.data": None},
                    trigger="parameters-tuning-validation-poll.n_intervals")
    assert reply.status_code == 200
    assert json.loads(reply.get_data(as_text=True))["response"]["parameters-tuning-validation-watch"]["data"] is None
