"""A backtest range must hold at least two bars of the index: one bar (or none) is refused before running,
with a message naming the range as chosen and how many bars it holds."""
from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from engine.backtest.inputs import BacktestError, BacktestSpec, parse_date, preset_by_name
from engine.params import default_params


def _frames(stamps: list[str]) -> dict[str, pd.DataFrame]:
    ts = pd.to_datetime(stamps, utc=True)
    bar = pd.DataFrame({"timestamp": ts, "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 10.0})
    return {"IDX": bar, "AAA": bar.copy()}


DAILY = _frames(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"])


def _spec(frames: dict[str, pd.DataFrame], start: datetime | None, end: datetime | None) -> BacktestSpec:
    return BacktestSpec(frames=frames, index_symbol="IDX", params=default_params(), preset=preset_by_name("default"),
                        start=start, end=end)


def test_a_one_day_range_of_daily_bars_is_refused_naming_range_and_count() -> None:
    with pytest.raises(BacktestError) as err:
        _spec(DAILY, parse_date("2024-01-03", "start"), parse_date("2024-01-03", "end", end_of_day=True))
    assert str(err.value) == ("2024-01-03 to 2024-01-03 holds 1 bar of IDX; a backtest needs at least 2: choose a "
                              "wider range (the data covers 2024-01-02 00:00 to 2024-01-05 00:00 UTC)")


def test_an_open_end_that_leaves_the_last_bar_alone_is_refused() -> None:
    with pytest.raises(BacktestError, match=r"^2024-01-05 to 2024-01-05 holds 1 bar of IDX; a backtest needs at "
                                            r"least 2"):
        _spec(DAILY, parse_date("2024-01-05", "start"), None)  # the end is the last bar, 2024-01-05 00:00


def test_a_range_of_no_bars_still_says_what_the_data_covers() -> None:
    with pytest.raises(BacktestError) as err:  # a weekend between two bars
        _spec(DAILY, parse_date("2024-01-06", "start"), parse_date("2024-01-07", "end", end_of_day=True))
    assert str(err.value).startswith("no IDX bars between 2024-01-06 00:00 and 2024-01-07 23:59")


def test_two_bars_are_enough() -> None:
    spec = _spec(DAILY, parse_date("2024-01-04", "start"), parse_date("2024-01-05", "end", end_of_day=True))
    assert spec.start == datetime(2024, 1, 4, tzinfo=UTC)


def test_a_range_within_a_day_is_named_to_the_minute() -> None:
    intraday = _frames(["2024-01-02 14:30", "2024-01-02 15:30", "2024-01-02 16:30"])
    with pytest.raises(BacktestError) as err:
        _spec(intraday, parse_date("2024-01-02T15:00Z", "start"), parse_date("2024-01-02T16:00Z", "end", True))
    assert str(err.value).startswith("2024-01-02 15:00 to 2024-01-02 16:00 holds 1 bar of IDX; a backtest needs at "
                                     "least 2")
    assert _spec(intraday, parse_date("2024-01-02T15:00Z", "start"), None).end is None  # 15:30 and 16:30
