"""A web backtest runs the parameter version fixed at the click, not one applied while it waited in the queue
(audit 6, defect 4): start_run's jobs.pin travels with the run id, and the job (jobs.run_pinned) rebuilds the spec
from it; a version that can no longer be read, or a pin that is not the run's, ends the run as failed."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.backtest import runs
from engine.backtest.inputs import BacktestError
from engine.params.versions import active_params, apply_version
from engine.settings import load_settings
from engine.store.migrate import open_store
from engine.store.models import BacktestRun, ParamVersion
from tests.integration import backtest_data
from webapp import backtest_jobs as jobs
from webapp.regime_whatif import apply_edits

KEY = "StabilityConfiguration|main|hysteresis_buffer"


def test_the_job_runs_the_version_active_at_the_click(any_db_url: str, tmp_path: Path) -> None:
    folder = backtest_data.csv_dir(tmp_path / "csv", bars=30)
    settings = load_settings(database_url=any_db_url, csv_dir=str(folder))
    store = open_store(any_db_url, migrate=True)
    try:
        with store.read() as s:
            base = active_params(s)
        v1 = apply_version(store, apply_edits(base, {KEY: 0.11}), "web:alice", "ui")
        form = {"source": "csv", "csv_dir": next(iter(jobs.csv_choices(settings))), "cash": 100000,
                "version": "active", "preset": "default"}
        clicked = jobs.build_spec(form, None, store, settings, None)  # start_run
        run_id = runs.create_run(store, clicked.spec, author="web:alice", data_source=clicked.data_source,
                                 param_version_id=clicked.version_id)
        job = {"run_id": run_id, **jobs.pin(clicked)}
        v2 = apply_version(store, apply_edits(v1, {KEY: 0.14}), "web:bob", "ui")  # applied while the job waits
        assert v2.version_id != v1.version_id
        built = jobs.build_spec(form, None, store, settings, None, job)  # what run_pinned builds
        assert built.version_id == v1.version_id
        assert built.spec.params.sheet("StabilityConfiguration").get("hysteresis_buffer") == pytest.approx(0.11)
        outcome = jobs.run_pinned(run_id, job, form, None, store, settings, None, lambda _f, _t: None)
        assert outcome.startswith(f"run #{run_id}: ")
        with store.read() as s:
            row = s.get(BacktestRun, run_id)
            assert row is not None and row.status == "done" and row.param_version_id == v1.version_id

        # a forged pin naming v2 for a run recorded with v1 is refused, and the run ends failed with the reason
        second = runs.create_run(store, clicked.spec, author="web:alice", data_source=clicked.data_source,
                                 param_version_id=clicked.version_id)
        forged = {"run_id": second, "version_id": v2.version_id, "base_version_id": None,
                  "params_hash": v2.content_hash}
        with pytest.raises(BacktestError, match=f"backtest run {second} was started with version {v1.version_id} "
                                                f"\\(active\\), but the job would run version {v2.version_id}"):
            jobs.run_pinned(second, forged, form, None, store, settings, None, lambda _f, _t: None)
        assert runs.get_run(store, second).status == "failed"

        # the version fixed at the click no longer exists: refused with a message, the run failed
        third = runs.create_run(store, clicked.spec, author="web:alice", data_source=clicked.data_source,
                                param_version_id=clicked.version_id)
        gone = {"run_id": third, "version_id": 987654, "base_version_id": None, "params_hash": "x"}
        with store.read() as s:
            assert s.get(ParamVersion, 987654) is None
        with pytest.raises(BacktestError, match="the parameter version 987654 this run was started with can no "
                                                "longer be read"):
            jobs.run_pinned(third, gone, form, None, store, settings, None, lambda _f, _t: None)
        failed = runs.get_run(store, third)
        assert failed.status == "failed" and "987654" in (failed.message or "")
    finally:
        store.dispose()
