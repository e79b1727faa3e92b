"""An uploaded CSV as backtest data: one symbol named after the file, or several in long format, each
checked by the CSV source's loader with the uploaded file's own line numbers in any message."""
from __future__ import annotations

import pytest

from engine.backtest.inputs import BacktestError
from engine.backtest.upload import frames_from_upload

LONG = """date,symbol,open,high,low,close,volume
2024-01-02,SPY,472.16,473.67,470.49,472.65,1000
2024-01-02,AAA,10,11,9,10.5,50
2024-01-03,SPY,470.43,471.19,468.17,468.79,1200
2024-01-03,AAA,10.5,10.8,10.1,10.2,40
"""


def test_long_format_is_split_per_symbol() -> None:
    frames = frames_from_upload(LONG.encode(), "mixed.csv")
    assert sorted(frames) == ["AAA", "SPY"]
    assert frames["AAA"]["close"].tolist() == [10.5, 10.2] and frames["SPY"]["open"].tolist() == [472.16, 470.43]


def test_a_bad_row_is_named_by_its_line_in_the_uploaded_file() -> None:
    bad = LONG.replace("10.5,10.8,10.1,10.2", "10.5,10.8,10.9,10.2")  # line 5: AAA low above high
    with pytest.raises(BacktestError, match=r"^CSV market data mixed\.csv line 5, column 'high': high 10\.8 is below "
                                            r"low 10\.9\. Fix the file and run again\.$"):
        frames_from_upload(bad.encode(), "mixed.csv")


def test_one_symbol_file_and_refusals() -> None:
    one = "timestamp,open,high,low,close,volume\n2024-01-02,1,2,0.5,1.5,10\n"
    assert list(frames_from_upload(one.encode(), "qqq.csv")) == ["QQQ"]
    with pytest.raises(BacktestError, match="upload a .csv file"):
        frames_from_upload(one.encode(), "qqq.xlsx")
    with pytest.raises(BacktestError, match="not UTF-8"):
        frames_from_upload(b"\xff\xfe\x00bad", "x.csv")
    with pytest.raises(BacktestError, match="line 2, column 'symbol': the symbol is missing"):
        frames_from_upload(b"timestamp,symbol,open,high,low,close,volume\n2024-01-02,,1,2,0.5,1.5,10\n", "x.csv")
