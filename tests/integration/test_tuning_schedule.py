"""The tuning job on a real store: its four steps are recorded as job runs, a scheduled tuning run is skipped
(and says why) below min_samples_required, and is not retried before adaptation_frequency hours."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine import jobs
from engine.audit import recent
from engine.clock import ManualClock
from engine.cycle import EngineCycle
from engine.job_specs import tuning_job
from engine.params.paramset import default_params
from engine.params.versions import apply_version
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.keyvalue import REFIT_REQUEST_KEY, get_value
from engine.store.models import JobRun, ParamVersion
from engine.tuning import proposals
from engine.tuning.edit import edited
from engine.tuning.job import LAST_RUN_KEY, tune_if_due
from engine.tuning.live import stored_scorecard


def test_the_job_records_its_steps_and_honours_the_schedule(any_db_url: str) -> None:
    settings = load_settings(database_url=any_db_url, warmup_polls=120)
    ctx = build_context(settings, with_source=True, migrate=True, clock=ManualClock())
    cycle = EngineCycle()
    jobs.ensure_instruments(ctx)
    jobs.resume_source(ctx, settings.warmup_polls)
    cycle.startup(ctx)
    for _ in range(3):
        ctx.clock.advance(1.0)
        cycle.market(ctx)
    tuning_job(ctx)
    with ctx.store.read() as s:
        runs = {r.job: r.outcome for r in s.scalars(select(JobRun))}
        last = get_value(s, LAST_RUN_KEY)
        card = stored_scorecard(s)
    assert {runs[j] for j in ("scorecard", "drift", "auto_rollback", "adaptive_tuning")} == {"ok"}
    assert last["outcome"].startswith("skipped: ") and "min_samples_required 1000" in last["outcome"]
    assert card is not None and card["overall"] is not None
    assert any(m["metric"] == "prediction_confidence" and m["value"] is not None for m in card["metrics"])
    # PERFORMANCE_BASED (the workbook default): a score under performance_threshold (0.85) asks for a refit
    with ctx.store.read() as s:
        request = get_value(s, REFIT_REQUEST_KEY)
        audited = recent(s, action_prefix="tuning.refit_request")
    assert (request is not None) == (card["overall"] < 0.85) == (len(audited) == 1)
    tuning_job(ctx)  # a minute later: no second request within the hour
    with ctx.store.read() as s:
        assert len(recent(s, action_prefix="tuning.refit_request")) == len(audited)
    ctx.clock.advance(timedelta(hours=23))
    assert tune_if_due(ctx) is None
    with ctx.store.read() as s:
        assert get_value(s, LAST_RUN_KEY) == last  # within adaptation_frequency (24 h): not even looked at
    ctx.clock.advance(timedelta(hours=2))
    tune_if_due(ctx)
    with ctx.store.read() as s:
        assert get_value(s, LAST_RUN_KEY)["ts"] != last["ts"]  # due again: looked (and skipped: still few bars)


@pytest.mark.slow  # a scheduled tuning run: 2 trials and 4 fold backtests on the stored history, ~1 min per database
def test_a_scheduled_run_is_judged_by_backtests_of_the_stored_history(any_db_url: str) -> None:
    settings = load_settings(database_url=any_db_url, warmup_polls=600)
    ctx = build_context(settings, with_source=True, migrate=True, clock=ManualClock())
    jobs.ensure_instruments(ctx)
    jobs.resume_source(ctx, settings.warmup_polls)
    small = edited(default_params(), {("AdaptiveTuning", "main", "min_samples_required"): 500,
                                      ("ValidationFramework", "main", "cross_validation_folds"): 2})
    apply_version(ctx.store, small, "alice", "ui", clock=ctx.clock)
    pid = tune_if_due(ctx, trials=2)
    assert pid is not None
    view = proposals.list_proposals(ctx.store)[0]
    v = view.validation
    assert view.id == pid and v["source"] == "backtest" and len(v["folds"]) == 2
    assert {c["against"] for c in v["comparisons"]} == {"current version", "buy-and-hold", "cash"}
    assert view.reason.startswith("out-of-sample backtest gain") or view.reason.startswith("no trial changed")
    with ctx.store.read() as s:
        last = get_value(s, LAST_RUN_KEY)
        assert recent(s, action_prefix="tuning.propose")[0].target == f"tuning_proposal:{pid}"
        versions = s.scalars(select(ParamVersion)).all()
    assert last["outcome"] == f"proposal {pid}: {view.reason}"
    beats = view.status != "not_better"  # require_human_approval is off by default: a better one is applied
    assert len(versions) == (2 if beats else 1) and view.status in ("applied", "not_better")
    ctx.store.dispose()


def test_a_run_stops_once_the_engine_no_longer_surely_leads(any_db_url: str) -> None:
    """`stopping`: the lease fence lapsed, or (every LEASE_CHECK_CALLS asks) the stored heartbeat says stopped;
    the tuner asks it before every trial."""
    import time as wall

    from engine.backtest.inputs import BacktestCancelled
    from engine.lease import LeaseFence
    from engine.store.models import EngineHeartbeat
    from engine.tuning.job import LEASE_CHECK_CALLS, stopping
    from engine.tuning.tuner import tune
    from tests.tuning_fixtures import SPACE, history, poor_version

    ctx = build_context(load_settings(database_url=any_db_url), with_source=False, migrate=True, clock=ManualClock())
    assert stopping(ctx)() is False  # no fence: a context built by hand is never stopped
    ctx.fence = LeaseFence(ctx.engine_id)
    assert stopping(ctx)() is True  # never granted: not leading
    ctx.fence.grant(1, wall.monotonic() + 60)
    with ctx.store.write() as s:
        s.add(EngineHeartbeat(engine_id=ctx.engine_id, host="h", pid=1, started_at=ctx.clock.now(),
                              last_beat=ctx.clock.now(), status="active"))
    check = stopping(ctx)
    assert not any(check() for _ in range(3 * LEASE_CHECK_CALLS))  # leading, heartbeat active
    with ctx.store.write() as s:
        beat = s.get(EngineHeartbeat, ctx.engine_id)
        assert beat is not None
        beat.status = "stopped"  # what release_lease writes on shutdown
    answers = [check() for _ in range(LEASE_CHECK_CALLS)]
    assert answers.count(True) == 1 and answers[-1] is True  # read at the next store check
    bars, truth, symbol = history()
    with pytest.raises(BacktestCancelled, match="tuning cancelled after 0 of 3 trials"):
        tune(poor_version(), bars, truth, trials=3, seed=1, symbol=symbol, only=SPACE, cancelled=lambda: True)
    ctx.store.dispose()
