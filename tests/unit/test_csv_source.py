"""CSV market data: the loader's validation messages and the replay source's ordering."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.market.csv_source import CsvReplaySource, load_ohlcv_csv
from engine.market.types import MarketDataError

DATA = Path(__file__).resolve().parents[1] / "data"
HEADER = "timestamp,open,high,low,close,volume\n"
GOOD = "2024-03-01T14:30:00Z,100,101,99,100.5,10\n"


def _write(tmp_path: Path, text: str, name: str = "XYZ.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_loads_minute_bars_with_extra_columns_and_mixed_iso_timestamps():
    df = load_ohlcv_csv(DATA / "csv_replay" / "BBB.csv")
    assert list(df.columns) == ["timestamp", "open", "high", "low", "close", "volume"]
    assert df.attrs["symbol"] == "BBB"
    assert [t.isoformat() for t in df["timestamp"]] == [
        "2024-03-01T14:31:00+00:00",  # naive means UTC
        "2024-03-01T14:33:00+00:00",  # -05:00 converted
        "2024-03-01T14:35:00+00:00",
    ]
    assert df["volume"].tolist() == [300.0, 250.5, 410.0]


def test_loads_daily_bars_with_a_date_column_and_blank_lines():
    df = load_ohlcv_csv(DATA / "daily_ohlcv.csv", symbol="SPY")
    assert df.attrs["symbol"] == "SPY"
    assert len(df) == 4
    assert df["timestamp"].iloc[0] == datetime(2024, 1, 2, tzinfo=UTC)
    assert df["close"].iloc[-1] == pytest.approx(467.92)


@pytest.mark.parametrize(
    ("body", "line", "column", "what"),
    [
        (GOOD + "2024-03-01T14:31:00Z,100,101,99,abc,10\n", 3, "close", "'abc' is not a number"),
        (GOOD + "2024-03-01T14:31:00Z,100,101,99,,10\n", 3, "close", "'' is not a number"),
        (GOOD + "01/03/2024 14:31,100,101,99,100,10\n", 3, "timestamp", "cannot read '01/03/2024 14:31'"),
        (GOOD + "2024-03-01T14:31:00Z,100,98,99,98.5,10\n", 3, "high", "high 98 is below low 99"),
        (GOOD + "2024-03-01T14:31:00Z,100,101,99,102,10\n", 3, "close", "close 102 is outside"),
        (GOOD + "2024-03-01T14:31:00Z,100,101,99,100,-5\n", 3, "volume", "volume -5 is negative"),
        (GOOD + GOOD, 3, "timestamp", "repeats the previous bar (line 2)"),
        (GOOD + "2024-03-01T14:29:00Z,100,101,99,100,10\n", 3, "timestamp", "goes back before"),
        (GOOD + "2024-03-01T14:31:00Z,100,101\n", 3, None, "only 3 fields"),
        (GOOD + "2024-03-01T14:31:00Z,0,101,0,100,10\n", 3, "open", "prices must be positive"),
    ],
)
def test_malformed_rows_name_file_line_column_and_problem(tmp_path, body, line, column, what):
    path = _write(tmp_path, HEADER + body)
    with pytest.raises(MarketDataError) as err:
        load_ohlcv_csv(path)
    msg = str(err.value)
    assert f"XYZ.csv line {line}" in msg
    if column:
        assert f"column '{column}'" in msg
    assert what in msg
    assert "Fix the file" in msg


def test_line_numbers_count_blank_lines_and_the_header():
    with pytest.raises(MarketDataError, match=r"bad_high_below_low.csv line 4, column 'high'"):
        load_ohlcv_csv(DATA / "bad_high_below_low.csv")


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
        (HEADER, "has a header but no bars"),
        ("timestamp,open,high,close\n" + "2024-03-01,1,2,1.5\n", "missing column(s) low, volume"),
    ],
)
def test_empty_files_and_missing_columns_are_refused(tmp_path, text, what):
    with pytest.raises(MarketDataError) as err:
        load_ohlcv_csv(_write(tmp_path, text))
    assert what in str(err.value)
    assert "XYZ.csv" in str(err.value)


def test_missing_file_is_a_market_data_error(tmp_path):
    with pytest.raises(MarketDataError, match="does not exist"):
        load_ohlcv_csv(tmp_path / "nope.csv")


def test_replay_interleaves_symbols_in_time_order():
    src = CsvReplaySource(DATA / "csv_replay")
    assert src.symbols() == ["AAA", "BBB"]
    assert src.index_symbol() == "AAA"
    seen = []
    while not src.exhausted:
        up = src.poll()
        seen.append([(b.ts.strftime("%H:%M"), b.symbol) for b in up.bars])
    assert seen == [
        [("14:30", "AAA")],
        [("14:31", "AAA"), ("14:31", "BBB")],
        [("14:32", "AAA")],
        [("14:33", "AAA"), ("14:33", "BBB")],
        [("14:34", "AAA")],
        [("14:35", "BBB")],
    ]
    assert src.poll().bars == []  # exhausted: nothing new, nothing invented


def test_replay_batches_flags_stale_symbols_and_resumes_after_a_stored_bar():
    files = {"AAA": DATA / "csv_replay" / "AAA.csv", "BBB": DATA / "csv_replay" / "BBB.csv"}
    src = CsvReplaySource(files, bars_per_poll=3, index_symbol="BBB")
    assert src.index_symbol() == "BBB"
    first = src.poll()
    assert [b.ts.minute for b in first.bars] == [30, 31, 31, 32]
    assert first.stale_symbols == []
    src.resume_after(datetime(2024, 3, 1, 14, 33, tzinfo=UTC))
    up = src.poll()
    assert [(b.ts.minute, b.symbol) for b in up.bars] == [(34, "AAA"), (35, "BBB")]
    src.resume_after(datetime(2024, 3, 1, 14, 34))  # naive = UTC
    assert [b.symbol for b in src.poll().bars] == ["BBB"]
    src.bars_per_poll = 1
    src.resume_after(datetime(2024, 3, 1, 14, 33, tzinfo=UTC))
    assert src.poll().stale_symbols == ["BBB"]
    src.resume_after(None)
    assert src.poll().bars[0].ts == datetime(2024, 3, 1, 14, 30, tzinfo=UTC)


def test_replay_refuses_bad_setups(tmp_path):
    with pytest.raises(MarketDataError, match="no .csv files"):
        CsvReplaySource(tmp_path)
    with pytest.raises(MarketDataError, match="not a folder"):
        CsvReplaySource(tmp_path / "missing")
    with pytest.raises(MarketDataError, match="index symbol 'ZZZ' has no file"):
        CsvReplaySource(DATA / "csv_replay", index_symbol="ZZZ")
    _write(tmp_path, HEADER + GOOD + GOOD, "DUP.csv")
    with pytest.raises(MarketDataError, match="DUP.csv line 3"):
        CsvReplaySource(tmp_path)


def test_careful_reader_agrees_with_the_fast_path(tmp_path):
    """A leading blank line or padded cells take the careful reader; the result is the same."""
    plain = load_ohlcv_csv(_write(tmp_path, HEADER + GOOD + "2024-03-01T14:31:00Z,100.5,101,100,100.8,7\n"))
    padded = load_ohlcv_csv(_write(
        tmp_path, "\n" + HEADER + " 2024-03-01T14:30:00Z , 100,101,99,100.5,10\n\n"
        "2024-03-01T14:31:00Z,100.5,101,100,100.8,7\n", "PAD.csv"))
    assert padded.equals(plain)
    with pytest.raises(MarketDataError, match="PAD2.csv line 5, column 'volume'"):
        load_ohlcv_csv(_write(tmp_path, "\n" + HEADER + GOOD + "\n2024-03-01T14:31:00Z,100,101,99,100,x\n", "PAD2.csv"))
