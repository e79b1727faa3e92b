"""`python -m engine backtest`: files and progress; bad input exits 1 with one line naming file and place.
Stored runs keep their inputs and outputs on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from engine.backtest import runs
from engine.backtest.cli import main as cli_main
from engine.backtest.inputs import BacktestError, BacktestSpec, default_index, load_csv_dir, preset_from_file
from engine.backtest.outputs import compute, csv_texts
from engine.backtest.runner import run_backtest
from engine.params import default_params
from engine.params.workbook import load_workbook_params
from engine.settings import PROJECT_ROOT
from engine.store.migrate import open_store
from engine.store.models import AuditEvent
from tests.integration import backtest_data


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("btcli")
    return backtest_data.csv_dir(folder / "csv", bars=50), backtest_data.preset_file(folder)


def _cli_run(data: tuple[Path, Path], out: Path, hash_seed: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine", "backtest", "--csv-dir", str(data[0]), "--preset-file",
                           str(data[1]), "--cash", "100000", "--start", "2005-01-10", "--out", str(out)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONHASHSEED": hash_seed})


@pytest.mark.slow  # two fresh interpreters importing the engine, each a backtest: about 40 s on a busy machine
def test_cli_writes_the_four_files_with_progress(data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    proc = _cli_run(data, out, "1")
    assert proc.returncode == 0, proc.stderr
    again = _cli_run(data, tmp_path / "again", "2")  # another process, another string hash seed: the same files
    assert again.returncode == 0, again.stderr
    for name in ("equity.csv", "orders.csv", "fills.csv", "metrics.json"):
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes(), name
    assert sorted(p.name for p in out.iterdir()) == ["equity.csv", "fills.csv", "metrics.json", "orders.csv"]
    equity = pd.read_csv(out / "equity.csv")
    assert list(equity.columns) == ["timestamp", "equity", "cash", "gross_exposure", "regime_name"]
    index = pd.read_csv(data[0] / "IDX.csv")
    assert list(equity["timestamp"]) == [t for t in index["timestamp"] if t >= "2005-01-10"]
    assert equity["equity"].iloc[0] == 100000
    assert "bars (100%)" in proc.stderr and proc.stdout == ""
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("total_return", "cagr", "volatility", "sharpe", "sortino", "calmar", "max_drawdown", "trades",
                "commission"):
        assert key in metrics, key
        assert metrics["definitions"][key], key  # each metric's definition travels with it
    assert metrics["return_frequency"] == "daily bars" and metrics["periods_per_year"] == 252
    assert "sqrt(252)" in metrics["definitions"]["volatility"]


def _error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) if "--bogus" in argv else _no_raise():
        code = cli_main(argv)
        assert code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


class _no_raise:  # noqa: N801 - a tiny context manager
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


def test_bad_csv_names_file_line_and_column(data, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "csv"
    shutil.copytree(data[0], folder)
    shutil.copy(PROJECT_ROOT / "tests" / "data" / "bad_high_below_low.csv", folder / "CHRL.csv")
    err = _error_line(capsys, ["--csv-dir", str(folder), "--out", str(tmp_path / "o")])
    assert "CHRL.csv line 4, column 'high'" in err and "99.5 is below low 100.2" in err
    assert not (tmp_path / "o").exists()


def test_bad_range_and_unknown_preset(data, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    err = _error_line(capsys, ["--csv-dir", str(data[0]), "--start", "2030-01-01", "--out", str(tmp_path)])
    assert "no IDX bars between 2030-01-01" in err
    err = _error_line(capsys, ["--csv-dir", str(data[0]), "--start", "2005-03-01", "--end", "2005-02-01",
                               "--out", str(tmp_path)])
    assert "is after the end" in err
    day = pd.read_csv(data[0] / "IDX.csv")["timestamp"].iloc[7][:10]  # one trading day of the folder
    err = _error_line(capsys, ["--csv-dir", str(data[0]), "--start", day, "--end", day, "--out", str(tmp_path / "one")])
    assert err.startswith(f"backtest: {day} to {day} holds 1 bar of IDX; a backtest needs at least 2")
    assert not (tmp_path / "one").exists()
    err = _error_line(capsys, ["--csv-dir", str(data[0]), "--start", "yesterday-ish", "--out", str(tmp_path)])
    assert "--start 'yesterday-ish' is not a date" in err
    err = _error_line(capsys, ["--csv-dir", str(data[0]), "--preset", "nosuch", "--out", str(tmp_path)])
    assert "unknown planner preset 'nosuch'" in err
    err = _error_line(capsys, ["--csv-dir", str(tmp_path / "missing"), "--out", str(tmp_path)])
    assert "missing: not a folder" in err


def test_unknown_version_and_bad_workbook(data, tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'store.db'}"
    open_store(url, migrate=True).dispose()
    monkeypatch.setenv("REGIMEDESK_DATABASE_URL", url)
    err = _error_line(capsys, ["--csv-dir", str(data[0]), "--version", "999", "--out", str(tmp_path)])
    assert "parameter version 999 does not exist" in err
    bad = tmp_path / "params.xlsx"
    bad.write_bytes(b"not a workbook at all")
    err = _error_line(capsys, ["--csv-dir", str(data[0]), "--params", str(bad), "--out", str(tmp_path)])
    assert err.startswith("backtest: params.xlsx: ")


def test_a_wiped_out_account_keeps_its_files_and_names_why(data, tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Return metrics are undefined once equity reaches zero: the CLI says so in one line and writes the run's
    files, metrics.json with those metrics blank and the note (the run itself is real; only its last equity
    value is set to zero)."""
    import engine.backtest.runner as runner

    real = runner.run_backtest

    def wiped_out(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = real(*args, **kwargs)
        result.equity.loc[result.equity.index[-1], "equity"] = 0
        return result

    monkeypatch.setattr(runner, "run_backtest", wiped_out)
    out = tmp_path / "out"
    assert cli_main(["--csv-dir", str(data[0]), "--preset-file", str(data[1]), "--start", "2005-03-01",
                     "--out", str(out)]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("backtest: ") and " bars (" in line for line in lines[:-2]), lines  # progress
    err = lines[-2]
    assert err.startswith("backtest: metrics: equity fell to 0.00") and "blank" in err, err
    assert sorted(p.name for p in out.iterdir()) == ["equity.csv", "fills.csv", "metrics.json", "orders.csv"]
    assert pd.read_csv(out / "equity.csv")["equity"].iloc[-1] == 0


@pytest.mark.slow  # a backtest per database: 10-60 s depending on the machine's load
def test_stored_run_round_trip(any_db_url, data) -> None:  # type: ignore[no-untyped-def]
    store = open_store(any_db_url, migrate=True)
    try:
        frames = load_csv_dir(data[0])
        spec = BacktestSpec(frames=frames, index_symbol=default_index(frames), params=default_params(),
                            preset=preset_from_file(data[1]), cash=50_000.0, data_label="csv test",
                            params_label="schema defaults")
        run_id = runs.create_run(store, spec, author="alice", data_source="csv", name="first")
        runs.set_progress(store, run_id, 0.5)
        assert runs.get_run(store, run_id).progress == 0.5 and runs.get_run(store, run_id).status == "running"
        result = run_backtest(spec)
        metrics = compute(result)
        runs.finish_run(store, run_id, result, metrics)
        other = runs.create_run(store, spec, author="bob", data_source="csv")
        runs.fail_run(store, other, "cancelled by bob", cancelled=True)
        listed = runs.list_runs(store)
        assert [(r.id, r.status, r.author) for r in listed] == [(other, "cancelled", "bob"), (run_id, "done", "alice")]
        done = listed[1]
        assert done.name == "first" and done.cash == 50_000.0 and done.bars == result.bars
        assert done.metrics is not None and done.metrics["trades"] == metrics["trades"]
        for name, text in csv_texts(result).items():
            assert runs.file_text(store, run_id, name) == text
        equity = runs.load_table(store, run_id, "equity.csv")
        assert list(equity["timestamp"]) == list(result.equity["timestamp"])
        assert load_workbook_params(runs.workbook(store, run_id)).content_hash == default_params().content_hash
        with store.read() as s:
            actions = [(e.actor, e.action, e.target) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
        assert ("alice", "backtest.run", f"backtest:{run_id}") in actions
        with pytest.raises(BacktestError, match="does not exist"):
            runs.get_run(store, 12345)
        with pytest.raises(BacktestError, match="did not finish"):
            runs.file_text(store, other, "fills.csv")
    finally:
        store.dispose()


def test_cancel_stops_a_run_and_is_audited(data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from engine.backtest.inputs import BacktestCancelled

    frames = load_csv_dir(data[0])
    spec = BacktestSpec(frames=frames, index_symbol="IDX", params=default_params(), preset=preset_from_file(data[1]))
    asked = []
    with pytest.raises(BacktestCancelled, match="after 3 of 50 bars"):
        run_backtest(spec, cancelled=lambda: asked.append(1) or len(asked) > 3)
    store = open_store(f"sqlite:///{tmp_path / 's.db'}", migrate=True)
    try:
        run_id = runs.create_run(store, spec, author="web:trader", data_source="csv")
        assert runs.cancel_run(store, run_id, "web:trader") is True
        assert runs.cancel_run(store, run_id, "web:trader") is False  # only a running run can be cancelled
        assert runs.get_run(store, run_id).status == "cancelled"
        with store.read() as s:
            assert s.scalars(select(AuditEvent.action).where(AuditEvent.target == f"backtest:{run_id}")).all() == [
                "backtest.run", "backtest.cancel"]
    finally:
        store.dispose()
