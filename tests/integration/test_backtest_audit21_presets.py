"""Audit 21, defects 1 and 2: the preset a web backtest records is the preset it runs, worded truthfully.

1. The job reads the preset (and the regime -> preset table) from the store again when it starts; a preset saved
   again between the click and the job must not run under the record of the old one: the job refuses it.
2. A run with "the regime -> preset table" was recorded, listed, described and audited as preset "default".
"""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.backtest import runs
from engine.backtest.inputs import BacktestError
from engine.planner.preset_store import save_user_preset, set_regime_preset_table
from engine.settings import Settings, load_settings
from engine.store.db import Store
from engine.store.migrate import open_store
from engine.store.models import AuditEvent, BacktestRun
from tests.integration import backtest_data
from webapp import backtest_jobs as jobs
from webapp import backtest_page_data as data

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
TABLE = {"Bullish_Low_Vol": "aggressive", "Bearish_High_Vol": "conservative"}
# the words hand-written from TABLE: regimes in name order, the regimes without an entry run the default preset
TABLE_WORDS = "regime table (Bearish_High_Vol→conservative, Bullish_Low_Vol→aggressive; else default)"


def _setup(url: str, tmp_path: Path) -> tuple[Store, Settings, dict[str, object]]:
    folder = backtest_data.csv_dir(tmp_path / "csv", bars=20)
    settings = load_settings(database_url=url, csv_dir=str(folder))
    form: dict[str, object] = {"source": "csv", "csv_dir": next(iter(jobs.csv_choices(settings))), "start": "",
                               "end": "", "cash": "100000", "version": "active", "preset": "default", "name": ""}
    return open_store(url, migrate=True), settings, form


def _click(store: Store, settings: Settings, form: dict[str, object]) -> tuple[int, dict[str, object]]:
    """What start_run does: build the spec and record the run; returns the run id and the job's data."""
    built = jobs.build_spec(form, None, store, settings)
    run_id = runs.create_run(store, built.spec, author="web:alice", data_source=built.data_source,
                             param_version_id=built.version_id)
    return run_id, {"run_id": run_id, **jobs.pin(built)}


def _job(store: Store, settings: Settings, form: dict[str, object], job: dict[str, object]) -> str:
    return jobs.run_pinned(int(str(job["run_id"])), job, form, None, store, settings, None, lambda _f, _t: None)


def _recorded_sliders(store: Store, run_id: int) -> dict[str, float]:
    with store.read() as s:
        row = s.get(BacktestRun, run_id)
        assert row is not None
        return dict(row.preset["sliders"])


def test_a_preset_saved_again_after_the_click_is_not_run(any_db_url: str, tmp_path: Path) -> None:
    store, settings, form = _setup(any_db_url, tmp_path)
    try:
        save_user_preset(store, NOW, "web:alice", "mine", "default", {"risk_appetite": 0.1}, {})
        mine = {**form, "preset": "mine"}
        run_id, job = _click(store, settings, mine)
        save_user_preset(store, NOW, "web:bob", "mine", "default", {"risk_appetite": 0.9}, {})  # before the job
        with pytest.raises(BacktestError, match=rf"backtest run {run_id}: its preset \(mine\) was changed since it "
                                                r"was started .*; start it again"):
            _job(store, settings, mine, job)
        failed = runs.get_run(store, run_id)
        assert failed.status == "failed" and "its preset (mine) was changed" in (failed.message or "")
        assert _recorded_sliders(store, run_id)["risk_appetite"] == 0.1  # the record names what was clicked

        again, job = _click(store, settings, mine)  # a click after the save runs (and records) the new preset
        assert _job(store, settings, mine, job).startswith(f"run #{again}: 20 bars")
        assert runs.get_run(store, again).status == "done"
        assert _recorded_sliders(store, again)["risk_appetite"] == 0.9

        # the table is read again by the job too: an entry changed after the click is refused the same way
        set_regime_preset_table(store, NOW, "web:alice", {"Bullish_Low_Vol": "aggressive"})
        table_form = {**form, "preset": jobs.TABLE}
        table_run, job = _click(store, settings, table_form)
        set_regime_preset_table(store, NOW, "web:bob", {"Bullish_Low_Vol": "conservative"})
        with pytest.raises(BacktestError, match=rf"backtest run {table_run}: its preset \(regime table "
                                                r"\(Bullish_Low_Vol→aggressive; else default\)\) was changed"):
            _job(store, settings, table_form, job)
        assert runs.get_run(store, table_run).status == "failed"
    finally:
        store.dispose()


def test_a_table_run_is_recorded_listed_and_audited_with_its_table(any_db_url: str, tmp_path: Path) -> None:
    store, settings, form = _setup(any_db_url, tmp_path)
    try:
        set_regime_preset_table(store, NOW, "web:alice", TABLE)
        table_run, job = _click(store, settings, {**form, "preset": jobs.TABLE})
        assert _job(store, settings, {**form, "preset": jobs.TABLE}, job).startswith(f"run #{table_run}: ")
        plain_run, job = _click(store, settings, form)
        assert _job(store, settings, form, job).startswith(f"run #{plain_run}: ")

        table, plain = runs.get_run(store, table_run), runs.get_run(store, plain_run)
        assert table.preset_name == TABLE_WORDS and plain.preset_name == "default"
        assert table.name == f"{TABLE_WORDS} / schema defaults" and plain.name == "default / schema defaults"
        assert f"preset {TABLE_WORDS}, " in data._info(table) and "preset default, " in data._info(plain)
        assert {o["value"]: o["label"] for o in data.run_options(store)} == {
            table_run: f"#{table_run} {TABLE_WORDS} / schema defaults (done)",
            plain_run: f"#{plain_run} default / schema defaults (done)"}
        info = str(data.show(store, table_run, plain_run)[-1])  # the compare view's run info line
        assert f"preset {TABLE_WORDS}, " in info and "preset default, " in info
        with store.read() as s:
            column = s.scalar(select(BacktestRun.preset_name).where(BacktestRun.id == table_run))
            audits = {e.target: e.details for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "backtest.run"))}
        # the column keeps 64 characters: both mappings (86) and one with "+1 more" (67) are too long
        assert column == "regime table (2 regimes; else default)"
        assert audits[f"backtest:{table_run}"]["preset"] == TABLE_WORDS
        assert audits[f"backtest:{table_run}"]["regime_presets"] == {"Bearish_High_Vol": "conservative",
                                                                     "Bullish_Low_Vol": "aggressive"}
        assert audits[f"backtest:{plain_run}"]["preset"] == "default"
        assert "regime_presets" not in audits[f"backtest:{plain_run}"]
    finally:
        store.dispose()
