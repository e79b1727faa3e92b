"""The CSV source's implied-volatility index: VIX.csv / INDIAVIX.csv or a configured symbol is read as the
index series (not a tradable symbol) and each poll returns its points up to the poll's newest bar."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.market.csv_source import CsvReplaySource
from engine.market.csv_vol_index import load_vol_index_csv
from engine.market.types import MarketDataError
from engine.settings import load_settings

BARS = """timestamp,open,high,low,close,volume
2024-03-01T14:30:00Z,10,11,9,10.5,100
2024-03-01T14:31:00Z,10.5,11,10,10.8,100
2024-03-01T14:32:00Z,10.8,11,10,10.2,100
2024-03-01T14:33:00Z,10.2,11,10,10.4,100
"""


def _folder(tmp_path: Path, vix_name: str = "VIX.csv", vix: str | None = None) -> Path:
    (tmp_path / "AAA.csv").write_text(BARS)
    (tmp_path / vix_name).write_text(vix or "Date,Open,High,Low,Close\n2024-03-01T14:29:00Z,18,18,18,18.0\n"
                                            "2024-03-01T14:31:30Z,19,19,19,19.5\n2024-03-01T14:33:00Z,21,21,21,21.25\n")
    return tmp_path


def test_vix_file_is_the_index_series_not_a_symbol(tmp_path: Path) -> None:
    src = CsvReplaySource(_folder(tmp_path), bars_per_poll=2)
    assert src.symbols() == ["AAA"] and src.vol_index_symbol() == "VIX"
    first = src.poll()  # bars 14:30, 14:31 -> the points at or before 14:31
    assert [(p.ts, p.close) for p in first.vol_index] == [(datetime(2024, 3, 1, 14, 29, tzinfo=UTC), 18.0)]
    second = src.poll()  # 14:32, 14:33
    assert [p.close for p in second.vol_index] == [19.5, 21.25] and {p.symbol for p in second.vol_index} == {"VIX"}
    src.resume_after(datetime(2024, 3, 1, 14, 31, tzinfo=UTC))
    assert [p.close for p in src.poll().vol_index] == [19.5, 21.25]
    frame = src.vol_index_frame()
    assert frame is not None and frame["close"].tolist() == [18.0, 19.5, 21.25]


def test_india_vix_and_a_configured_symbol(tmp_path: Path) -> None:
    assert CsvReplaySource(_folder(tmp_path, "INDIAVIX.csv")).vol_index_symbol() == "INDIAVIX"
    (tmp_path / "INDIAVIX.csv").unlink()
    (tmp_path / "VXX.csv").write_text("timestamp,close\n2024-03-01T14:30:00Z,30\n")
    src = CsvReplaySource(tmp_path, vol_index_symbol="vxx")
    assert src.symbols() == ["AAA"] and src.vol_index_symbol() == "VXX"
    with pytest.raises(MarketDataError, match="'NOPE' has no file"):
        CsvReplaySource(tmp_path, vol_index_symbol="NOPE")
    settings = load_settings(market_source="csv", csv_dir=tmp_path, csv_vol_index_symbol="VXX")
    assert settings.csv_vol_index_symbol == "VXX"


def test_no_index_file_no_points(tmp_path: Path) -> None:
    (tmp_path / "AAA.csv").write_text(BARS)
    src = CsvReplaySource(tmp_path)
    assert src.vol_index_symbol() is None and src.poll().vol_index == [] and src.vol_index_frame() is None


@pytest.mark.parametrize("text,message", [
    ("timestamp,value\n2024-03-01,1\n", "needs columns timestamp and close"),
    ("timestamp,close\n2024-03-01,18\n2024-03-02,-1\n", "line 3, column 'close': '-1' is not a positive number"),
    ("timestamp,close\n2024-03-01,18\nyesterday,19\n", "line 3, column 'timestamp': 'yesterday'"),
    ("timestamp,close\n2024-03-02,18\n2024-03-01,19\n", "line 3, column 'timestamp': timestamps must be strictly"),
])
def test_bad_index_files_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "VIX.csv"
    p.write_text(text)
    with pytest.raises(MarketDataError, match=message):
        load_vol_index_csv(p)
