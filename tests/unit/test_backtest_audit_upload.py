"""A long-format upload (a symbol column) is split into records as CSV reads them (audit 2): a quoted field
may hold a line break, and U+2028 or a form feed inside a field is no line break; messages name the file's
own line (counted as the CSV source counts it: the last line of the record)."""
from __future__ import annotations

import pytest

from engine.backtest.inputs import BacktestError
from engine.backtest.upload import frames_from_upload

HEADER = "timestamp,open,high,low,close,volume,symbol,note\n"


def _rows() -> list[str]:
    out = []
    for i in range(5):  # AAA and BBB interleaved, one bar a day each
        out += [f"2024-01-{i + 2:02d},10,11,9,10.5,100,{s},x" for s in ("AAA", "BBB")]
    return out


def _upload(rows: list[str]) -> dict[str, int]:
    return {k: len(v) for k, v in frames_from_upload((HEADER + "\n".join(rows) + "\n").encode(), "data.csv").items()}


@pytest.mark.parametrize("inside", ['"multi\nline note"', '"two\r\nlines"', "a\u2028b", "a\x0cb", "a\x1cb"])
def test_a_field_with_a_line_break_or_a_separator_is_one_record(inside: str) -> None:
    rows = _rows()
    rows[0] = rows[0].replace(",x", f",{inside}")
    assert _upload(rows) == {"AAA": 5, "BBB": 5}


def test_a_bad_row_after_a_quoted_line_break_is_named_by_its_file_line() -> None:
    rows = _rows()
    rows[0] = rows[0].replace(",x", ',"multi\nline note"')  # lines 2-3
    rows[5] = rows[5].replace(",11,9,", ",8,9,")  # BBB's third bar: line 8 of the file
    with pytest.raises(BacktestError, match=r"data\.csv line 8, column 'high': high 8 is below low 9"):
        _upload(rows)


def test_a_bad_row_after_a_unicode_separator_is_named_by_its_file_line() -> None:
    rows = _rows()
    rows[0] = rows[0].replace(",x", ",a\u2028b")
    rows[5] = rows[5].replace(",11,9,", ",8,9,")  # line 7: U+2028 does not end a line of a CSV file
    with pytest.raises(BacktestError, match=r"data\.csv line 7, column 'high'"):
        _upload(rows)


def test_a_missing_symbol_after_a_quoted_line_break_names_its_line() -> None:
    rows = _rows()
    rows[0] = rows[0].replace(",x", ',"multi\nline"')
    rows[3] = rows[3].replace(",BBB,", ",,")  # line 6
    with pytest.raises(BacktestError, match=r"^data\.csv line 6, column 'symbol': the symbol is missing"):
        _upload(rows)
