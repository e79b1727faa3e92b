"""A backtest whose equity reaches zero (audit 2): the web run is stored with its files, blank return metrics
and a note, as the CLI keeps its files. The run is real; only its last equity value is set to zero (a
small CSV set cannot wipe a cash account out), as in test_backtest_cli_runs."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import webapp.backtest_jobs as jobs
from engine.backtest import runs
from engine.backtest.cli import main as cli_main
from engine.backtest.inputs import BacktestSpec, default_index, load_csv_dir, preset_from_file
from engine.backtest.runner import BacktestResult, run_backtest
from engine.params import default_params
from engine.store.migrate import open_store
from tests.integration import backtest_data
from webapp.backtest_page_data import show


def _wiped(*args: object, **kwargs: object) -> BacktestResult:
    result = run_backtest(*args, **kwargs)  # type: ignore[arg-type]  # passed through as the caller gave them
    result.equity.loc[result.equity.index[-1], "equity"] = 0.0
    return result


@pytest.mark.slow  # one backtest of 40 bars per database
def test_a_wiped_out_web_run_is_stored_with_a_note(any_db_url: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    folder = backtest_data.csv_dir(tmp_path / "csv", bars=40)
    frames = load_csv_dir(folder)
    spec = BacktestSpec(frames=frames, index_symbol=default_index(frames), params=default_params(),
                        preset=preset_from_file(backtest_data.preset_file(tmp_path)), cash=100_000.0,
                        data_label="csv test")
    store = open_store(any_db_url, migrate=True)
    try:
        run_id = runs.create_run(store, spec, author="web:trader", data_source="csv")
        monkeypatch.setattr(jobs, "run_backtest", _wiped)
        assert "40 bars" in jobs.execute(run_id, jobs.Built(spec, "csv", None), store, lambda _f, _t: None)
        row = runs.get_run(store, run_id)
        assert row.status == "done", row.message
        metrics = row.metrics or {}
        assert metrics["total_return"] is None and metrics["sharpe"] is None
        assert metrics["max_drawdown"] == pytest.approx(-1.0)
        assert "equity fell to 0.00" in str(metrics["note"])
        equity = runs.load_table(store, run_id, "equity.csv")
        assert len(equity) == 40 and float(equity["equity"].iloc[-1]) == 0.0
        assert runs.load_table(store, run_id, "fills.csv") is not None
        info = show(store, run_id, None)[-1]
        assert "equity fell to 0.00" in str(info)
    finally:
        store.dispose()


def test_the_cli_writes_blank_metrics_and_the_note(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.backtest.runner as runner

    folder = backtest_data.csv_dir(tmp_path / "csv", bars=30)
    monkeypatch.setattr(runner, "run_backtest", _wiped)
    out = tmp_path / "out"
    assert cli_main(["--csv-dir", str(folder), "--preset-file", str(backtest_data.preset_file(tmp_path)),
                     "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "backtest: metrics: equity fell to 0.00" in err, err
    assert sorted(p.name for p in out.iterdir()) == ["equity.csv", "fills.csv", "metrics.json", "orders.csv"]
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["total_return"] is None and metrics["max_drawdown"] == pytest.approx(-1.0)
    assert pd.read_csv(out / "equity.csv")["equity"].iloc[-1] == 0
