"""Audit 21, defects 7 and 8: what the Backtest page shows of stored runs.

7. "P&L per day" grouped the run's bars by UTC days, while the run's own risk engine (its daily-loss day) and the
   Performance page count the market's days: the default workbook's market_timezone, Asia/Kolkata.
8. The compare view's Definition column described the first run's annualisation only, beside a second run's
   figures annualised otherwise (daily bars against minute bars).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from engine.backtest import runs
from engine.backtest.sample import simulated_frames, write_csv_dir
from engine.settings import load_settings
from engine.store.db import Store
from engine.store.migrate import open_store
from webapp import backtest_jobs as jobs
from webapp import backtest_page_data as data

SYMBOLS = ("IDX", "ALFA", "BRVO")
WORKBOOK_ZONE = "Asia/Kolkata"  # the reference workbook's MasterConfiguration market_timezone


def _run(store: Store, url: str, folder: Path, name: str) -> int:
    """A web run through the page's own steps: the click (build and record), then the job."""
    settings = load_settings(database_url=url, csv_dir=str(folder))
    form = {"source": "csv", "csv_dir": next(iter(jobs.csv_choices(settings))), "start": "", "end": "",
            "cash": "100000", "version": "active", "preset": "default", "name": name}
    built = jobs.build_spec(form, None, store, settings)
    run_id = runs.create_run(store, built.spec, author="web:alice", data_source=built.data_source, name=name,
                             param_version_id=built.version_id)
    jobs.run_pinned(run_id, {"run_id": run_id, **jobs.pin(built)}, form, None, store, settings, None,
                    lambda _f, _t: None)
    assert runs.get_run(store, run_id).status == "done"
    return run_id


def _texts(node: Any) -> list[str]:
    """Every text in a Dash component tree, in order."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, list | tuple):
        return [t for child in node for t in _texts(child)]
    children = getattr(node, "children", None)
    return [] if children is None else _texts(children)


def _daily_frames(bars: int) -> dict[str, pd.DataFrame]:
    """Business days closing at 20:00 UTC: 01:30 the next day in Kolkata."""
    frames = simulated_frames(bars, start="2005-01-03 20:00")
    return {s: frames[s] for s in SYMBOLS}


def test_pnl_per_day_counts_the_runs_market_days(any_db_url: str, tmp_path: Path) -> None:
    store = open_store(any_db_url, migrate=True)
    try:
        run_id = _run(store, any_db_url, write_csv_dir(_daily_frames(20), tmp_path / "daily"), "daily")
        equity = runs.load_table(store, run_id, "equity.csv")
        local = equity["timestamp"].dt.tz_convert(WORKBOOK_ZONE)
        last = equity.assign(day=local.dt.strftime("%Y-%m-%d")).groupby("day")["equity"].last()
        expected = last.diff().fillna(last.iloc[0] - float(equity["equity"].iloc[0]))  # day 1 against the start
        utc_days = sorted(set(equity["timestamp"].dt.strftime("%Y-%m-%d")))
        assert list(expected.index) != utc_days  # every bar is on the next day in Kolkata

        figure = data.show(store, run_id, None)[2]
        assert list(figure.data[0].x) == list(expected.index)
        assert list(figure.data[0].y) == list(expected.to_numpy())
        assert figure.layout.xaxis.title.text == f"market day ({WORKBOOK_ZONE})"
        assert data.run_view(store, run_id).calendar is not None
    finally:
        store.dispose()


def test_compare_view_shows_each_runs_definitions_when_they_differ(any_db_url: str, tmp_path: Path) -> None:
    store = open_store(any_db_url, migrate=True)
    try:
        daily = _run(store, any_db_url, write_csv_dir(_daily_frames(20), tmp_path / "daily"), "daily")
        minutes = simulated_frames(60, freq="min")
        minute = _run(store, any_db_url, write_csv_dir({s: minutes[s] for s in SYMBOLS}, tmp_path / "minute"),
                      "minute")
        minute_ppy = runs.get_run(store, minute).metrics["periods_per_year"]  # type: ignore[index]
        assert runs.get_run(store, daily).metrics["periods_per_year"] == 252  # type: ignore[index]
        assert minute_ppy > 252

        table = data.show(store, daily, minute)[3]
        rows = {_texts(r.children[0])[0]: r.children for r in table.children[1].children}
        sharpe = _texts(rows["Sharpe"][-1])
        assert len(sharpe) == 2
        assert sharpe[0].startswith(f"#{daily} daily: Sharpe ratio: ") and "x sqrt(252);" in sharpe[0]
        assert sharpe[1].startswith(f"#{minute} minute: Sharpe ratio: ")
        assert f"x sqrt({minute_ppy:g});" in sharpe[1]
        # a metric both runs define alike keeps one definition
        drawdown = _texts(rows["Max drawdown"][-1])
        assert len(drawdown) == 1 and not drawdown[0].startswith("#")

        alone = data.show(store, minute, None)[3]  # one run: its own definitions, as one text
        sharpe_alone = _texts({_texts(r.children[0])[0]: r.children for r in alone.children[1].children}["Sharpe"][-1])
        assert len(sharpe_alone) == 1 and f"x sqrt({minute_ppy:g});" in sharpe_alone[0]
    finally:
        store.dispose()
