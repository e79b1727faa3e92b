"""A backtest's annualisation comes from the market its data shows, not from where the range cuts it.

The simulated market trades round the clock: one-minute bars annualise at 252 x 1,440 = 362,880 return
periods a year, whether the run covers two hours inside one day or crosses midnight (the old rule, the
median bars per UTC day of the range, gave 252 x 121 = 30,492 for a two-hour run). Runs on the backtest's
own in-memory SQLite store (engine/backtest/private.py), as every backtest does.
"""
from __future__ import annotations

import pandas as pd
import pytest

from engine.backtest.inputs import BacktestSpec, preset_by_name
from engine.backtest.outputs import compute
from engine.backtest.runner import run_backtest
from engine.backtest.sample import simulated_frames
from engine.params import default_params
from engine.settings import load_settings
from webapp.performance_data import market_session_minutes


@pytest.mark.parametrize(("first", "last"), [(400, 520), (1380, 1500)], ids=["two hours", "across midnight"])
def test_a_short_range_of_a_round_the_clock_market_annualises_by_the_day(first: int, last: int) -> None:
    frames = simulated_frames(1_600, freq="min")
    ts = pd.DatetimeIndex(frames["IDX"]["timestamp"])
    assert (ts[1:] - ts[:-1]).max() == pd.Timedelta(minutes=1)  # the premise: no break in the data
    spec = BacktestSpec(frames=frames, index_symbol="IDX", params=default_params(), preset=preset_by_name("default"),
                        start=ts[first].to_pydatetime(), end=ts[last].to_pydatetime())
    result = run_backtest(spec)
    assert len(result.equity) == last - first + 1
    metrics = compute(result)
    assert metrics["periods_per_year"] == 252 * 1440
    assert metrics["cagr"] is None and metrics["calmar"] is None  # two hours are not annualised (GIPS)


def test_the_performance_page_knows_the_simulated_market_trades_round_the_clock(tmp_path: object) -> None:
    assert market_session_minutes(load_settings(market_source="simulated")) == 1440
    assert market_session_minutes(load_settings(market_source="csv", csv_dir=str(tmp_path))) is None
