"""Backtest inputs (audit 2): starting cash bounds in one place, and a range beyond the data said plainly."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from engine.backtest.cli import main as cli_main
from engine.backtest.inputs import MAX_CASH, BacktestError, BacktestSpec, parse_date, preset_by_name
from engine.backtest.sample import simulated_frames, write_csv_dir
from engine.params import default_params
from webapp import backtest_jobs


def _frames() -> dict[str, pd.DataFrame]:
    ts = pd.to_datetime(["2005-07-26", "2005-07-27", "2005-07-28", "2005-07-29"], utc=True)
    bar = pd.DataFrame({"timestamp": ts, "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 10.0})
    return {"IDX": bar, "AAA": bar.copy()}


def _spec(**kw: object) -> BacktestSpec:
    return BacktestSpec(frames=_frames(), index_symbol="IDX", params=default_params(),
                        preset=preset_by_name("default"), **kw)  # type: ignore[arg-type]  # the fields under test


@pytest.mark.parametrize("cash", [math.inf, 1e300, MAX_CASH * 2, math.nan, -math.inf])
def test_the_spec_refuses_cash_that_is_not_finite_or_above_the_maximum(cash: float) -> None:
    with pytest.raises(BacktestError, match="starting cash"):
        _spec(cash=cash)


def test_the_maximum_is_the_form_s_and_is_allowed() -> None:
    assert backtest_jobs.MAX_CASH is MAX_CASH  # one definition
    assert _spec(cash=MAX_CASH).cash == MAX_CASH


@pytest.mark.parametrize("cash", ["inf", "1e300", "nan"])
def test_the_cli_says_one_line_for_unusable_cash(cash: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_csv_dir({s: f for s, f in simulated_frames(20).items() if s in ("IDX", "ALFA")}, tmp_path / "c")
    assert cli_main(["--csv-dir", str(folder), "--cash", cash, "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("backtest: starting cash"), err


def test_a_start_after_the_data_names_the_requested_range_and_the_data_s() -> None:
    with pytest.raises(BacktestError) as err:
        _spec(start=parse_date("2006-01-01", "start"))
    assert str(err.value) == ("no IDX bars between 2006-01-01 00:00 and the last bar; "
                              "the data covers 2005-07-26 00:00 to 2005-07-29 00:00 UTC")
    with pytest.raises(BacktestError) as err:
        _spec(end=parse_date("2005-01-01", "end", end_of_day=True))
    assert str(err.value) == ("no IDX bars between the first bar and 2005-01-01 23:59; "
                              "the data covers 2005-07-26 00:00 to 2005-07-29 00:00 UTC")
