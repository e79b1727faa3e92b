"""Audit 21, defects 3 to 5 and the cancel suspicion: what the Backtest page records and offers.

3. The pickers offered the finished runs among the 100 newest runs only: 100 cancelled runs hid every result.
4. Cash typed with more than 8 decimals: PostgreSQL rounds the record, and the job then always refused the run.
5. An upload whose file name is no symbol (a long export name) passed the check, then broke Run on PostgreSQL.
Suspicion 1: a cancel that landed after the job's last look (the last bars) was overwritten to "done".
Suspicion 2: a run whose job process died (a web restart, a killed worker) stayed "running" for ever.
"""
from __future__ import annotations

import base64
import shutil
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.backtest import runs
from engine.backtest.inputs import BacktestCancelled, BacktestError
from engine.settings import Settings, load_settings
from engine.store.db import Store
from engine.store.migrate import open_store
from engine.store.models import AuditEvent, BacktestRun
from tests.integration import backtest_data
from webapp import backtest_jobs as jobs
from webapp import backtest_page_data as data

NAME_RULE = ("is not a symbol and the file has no 'symbol' column; a symbol is 1 to 16 letters, digits, '.' or '-', "
             "starting with a letter or digit: rename the file to SYMBOL.csv")


def _setup(url: str, folder: Path) -> tuple[Store, Settings, dict[str, object]]:
    settings = load_settings(database_url=url, csv_dir=str(folder))
    form: dict[str, object] = {"source": "csv", "csv_dir": next(iter(jobs.csv_choices(settings))), "start": "",
                               "end": "", "cash": "100000", "version": "active", "preset": "default", "name": ""}
    return open_store(url, migrate=True), settings, form


def _click(store: Store, settings: Settings, form: dict[str, object],
           upload: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    """What start_run does: build the spec and record the run; returns the run id and the job's data."""
    built = jobs.build_spec(form, upload, store, settings)
    run_id = runs.create_run(store, built.spec, author="web:alice", data_source=built.data_source,
                             name=str(form.get("name") or ""), param_version_id=built.version_id)
    return run_id, {"run_id": run_id, **jobs.pin(built)}


def _job(store: Store, settings: Settings, form: dict[str, object], job: dict[str, object],
         upload: dict[str, str] | None = None) -> str:
    return jobs.run_pinned(int(str(job["run_id"])), job, form, upload, store, settings, None, lambda _f, _t: None)


def test_finished_runs_stay_offered_after_many_cancelled_runs(any_db_url: str, tmp_path: Path) -> None:
    store, settings, form = _setup(any_db_url, backtest_data.csv_dir(tmp_path / "csv", bars=20))
    try:
        good, job = _click(store, settings, {**form, "name": "good run"})
        _job(store, settings, {**form, "name": "good run"}, job)
        built = jobs.build_spec(form, None, store, settings)
        cancelled = runs.create_run(store, built.spec, author="web:alice", data_source="csv", name="try 0")
        assert runs.cancel_run(store, cancelled, "web:alice")
        with store.write() as s:  # 100 more like it (create_run writes a workbook a run: about 0.5 s each here)
            row = s.get(BacktestRun, cancelled)
            columns = [c.key for c in BacktestRun.__table__.columns if c.key not in ("id", "name")]
            s.add_all([BacktestRun(name=f"try {i}", **{c: getattr(row, c) for c in columns}) for i in range(1, 101)])
        listed = runs.list_runs(store, 1000)
        assert len(listed) == 102 and sum(r.status == "cancelled" for r in listed) == 101
        assert data.run_options(store) == [{"label": f"#{good} good run (done)", "value": good}]
        assert runs.get_run(store, good).status == "done"
    finally:
        store.dispose()


def test_cash_is_recorded_as_typed_or_refused(any_db_url: str, tmp_path: Path) -> None:
    store, settings, form = _setup(any_db_url, backtest_data.csv_dir(tmp_path / "csv", bars=20))
    try:
        with pytest.raises(BacktestError, match=r"^starting cash 250000\.123456789 has 9 decimal places; a run "
                                                r"records at most 8: enter the cash with 8 decimal places or fewer$"):
            jobs.build_spec({**form, "cash": "250000.123456789"}, None, store, settings)
        assert runs.list_runs(store) == []
        eight = {**form, "cash": "250000.12345678"}
        run_id, job = _click(store, settings, eight)
        assert _job(store, settings, eight, job).startswith(f"run #{run_id}: 20 bars")
        assert runs.get_run(store, run_id).status == "done"
        with store.read() as s:
            assert s.scalar(select(BacktestRun.cash).where(BacktestRun.id == run_id)) == Decimal("250000.12345678")
        zeros = {**form, "cash": "250000.1200000000"}  # ten places typed, two of them count
        assert jobs.build_spec(zeros, None, store, settings).spec.cash == 250000.12
    finally:
        store.dispose()


def test_a_file_name_that_is_no_symbol_is_refused_before_anything_is_recorded(any_db_url: str,
                                                                               tmp_path: Path) -> None:
    folder = backtest_data.csv_dir(tmp_path / "csv", bars=20)
    store, settings, form = _setup(any_db_url, folder)
    try:
        payload = "data:text/csv;base64," + base64.b64encode((folder / "IDX.csv").read_bytes()).decode()
        name = "S&P500 index daily bars 2005-2006 export.csv"
        with pytest.raises(BacktestError, match=f"^S_P500_index_daily_bars_2005-2006_export.csv: the file name "
                                                f"'S_P500_index_daily_bars_2005-2006_export' {NAME_RULE}"):
            data.check_upload(payload, name, settings.max_upload_bytes)  # the upload's own check
        upload_form = {**form, "source": "upload"}
        with pytest.raises(BacktestError, match=NAME_RULE):
            jobs.build_spec(upload_form, {"contents": payload, "filename": name}, store, settings)  # Run
        assert runs.list_runs(store) == []

        short = {"contents": payload, "filename": "idx.csv"}
        run_id, job = _click(store, settings, upload_form, short)
        assert _job(store, settings, upload_form, job, short).startswith(f"run #{run_id}: 20 bars")

        # a CSV folder's file names are the live CSV source's; one too long for the record is refused by name
        long_dir = tmp_path / "long"
        long_dir.mkdir()
        stem = "THE_INDEX_BARS_EXPORTED_2005_TO_2006"  # 36 characters, the record keeps 32
        shutil.copy(folder / "IDX.csv", long_dir / f"{stem}.csv")
        store.dispose()
        store, settings, form = _setup(any_db_url, long_dir)
        built = jobs.build_spec(form, None, store, settings)
        assert built.spec.index_symbol == stem
        with pytest.raises(BacktestError, match=f"the index symbol '{stem}' is longer than 32 characters, the most a "
                                                "stored run keeps; rename its file to SYMBOL.csv"):
            runs.create_run(store, built.spec, author="web:alice", data_source="csv")
        assert [r.id for r in runs.list_runs(store)] == [run_id]
    finally:
        store.dispose()


def test_a_cancel_after_the_jobs_last_look_stays_a_cancel(any_db_url: str, tmp_path: Path) -> None:
    store, settings, form = _setup(any_db_url, backtest_data.csv_dir(tmp_path / "csv", bars=20))
    try:
        run_id, job = _click(store, settings, form)
        built = jobs.build_spec(form, None, store, settings, None, job)

        def progress(fraction: float, _text: str) -> None:  # the Cancel button, pressed as the last bar is done
            if fraction >= 1.0:
                assert runs.cancel_run(store, run_id, "web:bob")

        with pytest.raises(BacktestCancelled, match=rf"^backtest run {run_id} was cancelled before it finished "
                                                    r"\(cancelled by web:bob\); its results were not kept$"):
            jobs.execute(run_id, built, store, progress, job)
        row = runs.get_run(store, run_id)
        assert (row.status, row.message, row.metrics) == ("cancelled", "cancelled by web:bob", None)
        with pytest.raises(BacktestError, match="has no equity.csv"):
            runs.file_text(store, run_id, "equity.csv")
        assert data.run_options(store) == []
        with store.read() as s:
            assert s.scalars(select(AuditEvent.actor).where(AuditEvent.action == "backtest.cancel")).all() == ["web:bob"]
    finally:
        store.dispose()


def test_run_button_names_the_limit_of_a_long_index_file_name(test_settings: Any, any_db_url: str,
                                                              tmp_path: Path) -> None:
    from app import create_app
    from tests import web_requests as wr
    from tests.auth_helpers import login_client
    from webapp.context import EXTENSION_KEY

    long_dir = tmp_path / "long"
    long_dir.mkdir()
    stem = "THE_INDEX_BARS_EXPORTED_2005_TO_2006"
    shutil.copy(backtest_data.csv_dir(tmp_path / "csv", bars=20) / "IDX.csv", long_dir / f"{stem}.csv")
    app = create_app(test_settings(database_url=any_db_url, warmup_polls=0, csv_dir=str(long_dir)), start_engine=False)
    ctx = app.server.extensions[EXTENSION_KEY]
    trader = login_client(app, "trader")
    form = {"backtest-source.value": "csv", "backtest-csv-dir.value": next(iter(jobs.csv_choices(ctx.settings))),
            "backtest-start.value": "", "backtest-end.value": "", "backtest-cash.value": "100000",
            "backtest-version.value": "active", "backtest-preset.value": "default", "backtest-name.value": "",
            "backtest-run.n_clicks": 1}
    reply = wr.call(trader, wr.find(wr.dependencies(trader), "backtest-job.data"), form, trigger="backtest-run.n_clicks")
    text = reply.get_data(as_text=True)
    assert reply.status_code == 200, text[:500]
    assert f"the index symbol '{stem}' is longer than 32 characters, the most a stored run keeps" in text
    assert runs.list_runs(ctx.store) == []


JOB = """
import sys
from engine.settings import load_settings
from engine.store.migrate import open_store
from webapp import backtest_jobs as jobs
url, folder, run_id = sys.argv[1], sys.argv[2], int(sys.argv[3])
settings = load_settings(database_url=url, csv_dir=folder)
store = open_store(url)
form = {"source": "csv", "csv_dir": next(iter(jobs.csv_choices(settings))), "start": "", "end": "", "cash": "100000",
        "version": "active", "preset": "default", "name": ""}
built = jobs.build_spec(form, None, store, settings)
jobs.run_pinned(run_id, jobs.pin(built), form, None, store, settings, None, lambda _f, _t: None)
"""


def test_a_run_whose_job_process_died_ends_failed(any_db_url: str, tmp_path: Path) -> None:
    folder = backtest_data.csv_dir(tmp_path / "csv", bars=400)
    store, settings, form = _setup(any_db_url, folder)
    root = Path(__file__).resolve().parents[2]
    try:
        run_id, _job_data = _click(store, settings, form)
        child = subprocess.Popen([sys.executable, "-c", JOB, any_db_url, str(folder), str(run_id)], cwd=root)
        try:
            deadline = time.monotonic() + 300
            while runs.get_run(store, run_id).progress <= 0 and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert child.poll() is None and runs.get_run(store, run_id).progress > 0, "the job did not get going"
        finally:
            child.send_signal(signal.SIGKILL)  # the web server restarts: its job children go with it
            child.wait(timeout=60)
        assert runs.get_run(store, run_id).status == "running"  # nothing in the dead job could say otherwise
        assert data.run_options(store) == []  # the page lists runs (a reload): the dead job's run is ended
        ended = runs.get_run(store, run_id)
        assert ended.status == "failed"
        assert ended.message is not None and ended.message.startswith(f"its job stopped without finishing (process "
                                                                      f"{child.pid} on ")
        assert ended.message.endswith("; start it again")

        # new with the fix: imported here, so the file's other tests run on a checkout without it
        from engine.backtest import run_jobs

        live, _job_data = _click(store, settings, form)  # a run of a live process (this one) is left alone
        run_jobs.claim(store, live)
        assert data.run_options(store) == [] and runs.get_run(store, live).status == "running"
    finally:
        store.dispose()
