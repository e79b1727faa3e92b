"""Backtest inputs (audit 1): an index that ends before the stocks, a timestamp past pandas' range, --version on a
store that is missing or unreachable, and an uploaded CSV with a symbol column but no bars. CSV files are
written by the tests; expectations are read from those files."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from engine.backtest import cli
from engine.backtest.inputs import BacktestError, default_index
from engine.backtest.sample import simulated_frames, write_csv_dir
from engine.backtest.upload import frames_from_upload
from engine.market.csv_source import load_ohlcv_csv
from engine.market.types import MarketDataError
from tests.integration.backtest_data import preset_file


def _data(tmp_path: Path, bars: int = 160, index_bars: int = 100) -> Path:
    """Every simulated symbol; the index cut to its first `index_bars` bars (an index export that ends early)."""
    frames = simulated_frames(bars)
    frames["IDX"] = frames["IDX"].iloc[:index_bars].reset_index(drop=True)
    return write_csv_dir(frames, tmp_path / "csv")


def test_index_that_ends_early_ends_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _data(tmp_path)
    index_last = pd.read_csv(folder / "IDX.csv")["timestamp"].iloc[-1]
    stock_last = pd.read_csv(folder / "ALFA.csv")["timestamp"].iloc[-1]
    out = tmp_path / "out"
    assert cli.main(["--csv-dir", str(folder), "--out", str(out), "--preset-file", str(preset_file(tmp_path))]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "bars (" not in line]
    stop = pd.Timestamp(index_last)
    assert f"backtest: the index IDX ends at {stop:%Y-%m-%d %H:%M} UTC; the run stops there" in err[0]
    assert f"up to {pd.Timestamp(stock_last):%Y-%m-%d %H:%M} UTC" in err[0]
    assert not any("stale market data" in line for line in err)
    equity = pd.read_csv(out / "equity.csv", parse_dates=["timestamp"])
    fills = pd.read_csv(out / "fills.csv", parse_dates=["ts"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert equity["timestamp"].iloc[-1] == stop and len(equity) == 100
    assert len(fills) > 0 and (fills["ts"] <= stop).all()
    assert metrics["fills"] == len(fills)
    assert metrics["commission"] == pytest.approx(fills["commission"].sum(), abs=1e-6)
    assert err[-1].startswith("backtest: 100 bars, ")


def test_a_timestamp_past_2262_is_refused_at_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _data(tmp_path, bars=40, index_bars=40)
    with (folder / "IDX.csv").open("a", encoding="utf-8") as fh:
        fh.write("9999-01-01T00:00:00Z,100,101,99,100,1000\n")
    lines = len((folder / "IDX.csv").read_text().splitlines())
    with pytest.raises(MarketDataError) as caught:
        load_ohlcv_csv(folder / "IDX.csv")
    assert (f"IDX.csv line {lines}, column 'timestamp': '9999-01-01T00:00:00Z' is out of range: 9999-01-01, "
            "latest supported 2262-04-11") in str(caught.value)
    assert cli.main(["--csv-dir", str(folder), "--out", str(tmp_path / "out")]) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if "bars (" not in line]
    assert len(err) == 1 and "out of range: 9999-01-01, latest supported 2262-04-11" in err[0]


def test_version_on_a_missing_store_is_one_line_and_creates_no_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _data(tmp_path, bars=40, index_bars=40)
    fresh = tmp_path / "fresh.db"
    monkeypatch.setenv("REGIMEDESK_DATABASE_URL", f"sqlite:///{fresh}")
    assert cli.main(["--csv-dir", str(folder), "--version", "3", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [f"backtest: the store at sqlite:///{fresh} does not exist, so it has no parameter versions; "
                   "check REGIMEDESK_DATABASE_URL or run python -m engine migrate"]
    assert not fresh.exists()
    empty = tmp_path / "empty.db"  # a file that exists but was never migrated
    empty.write_bytes(b"")
    monkeypatch.setenv("REGIMEDESK_DATABASE_URL", f"sqlite:///{empty}")
    assert cli.main(["--csv-dir", str(folder), "--version", "3", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "no such table: param_versions (not migrated: run python -m engine migrate)" in err[0]
    monkeypatch.setenv("REGIMEDESK_DATABASE_URL", "postgresql://postgres:secret@127.0.0.1:1/nodb")
    assert cli.main(["--csv-dir", str(folder), "--version", "1", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(
        "backtest: cannot read parameter version 1 from the store at postgresql://postgres:***@127.0.0.1:1/nodb: ")
    assert "secret" not in err[0]


def test_upload_with_a_symbol_column_and_no_bars_is_refused() -> None:
    with pytest.raises(BacktestError, match=r"^bars\.csv: the file has a header but no bars$"):
        frames_from_upload(b"timestamp,open,high,low,close,volume,symbol\n\n", "bars.csv")
    with pytest.raises(BacktestError, match="no bars"):
        default_index({})
