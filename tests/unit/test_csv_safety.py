"""CSV downloads are safe to open in a spreadsheet (webapp/csv_safety.py): text cells that Excel or LibreOffice
would run as a formula get a leading quote; numbers stay numbers; every other cell is unchanged."""
from __future__ import annotations

import csv
import gzip
import io
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pandas as pd

from engine.backtest.runs import BacktestFile, BacktestRun
from engine.store.migrate import open_store
from webapp import backtest_page_data as data
from webapp.csv_safety import spreadsheet_safe_csv

EVIL = '=HYPERLINK("http://127.0.0.1/x","click")'


def test_formula_cells_are_quoted_and_numbers_kept() -> None:
    text = ('ts,regime_name,pnl,note\n'
            f'2026-01-02,"{EVIL.replace(chr(34), chr(34) * 2)}",-1.5,+SUM(A1)\n'
            '2026-01-03,calm,+2,@cmd\n'
            '2026-01-05,-,-1e3,"\tlead tab"\n'
            '2026-01-06,"a,b",inf,"two\nlines"\n')
    rows = list(csv.reader(io.StringIO(spreadsheet_safe_csv(text), newline="")))
    assert rows == [["ts", "regime_name", "pnl", "note"],
                    ["2026-01-02", "'" + EVIL, "-1.5", "'+SUM(A1)"],
                    ["2026-01-03", "calm", "+2", "'@cmd"],
                    ["2026-01-05", "'-", "-1e3", "'\tlead tab"],
                    ["2026-01-06", "a,b", "inf", "two\nlines"]]


def test_a_safe_file_is_unchanged() -> None:
    frame = pd.DataFrame({"ts": ["2026-01-02T15:00:00+00:00"], "equity": [-12.25], "regime": ["Bull"]})
    text = frame.to_csv(index=False)
    assert spreadsheet_safe_csv(text) == text


def test_a_backtest_download_quotes_a_workbook_regime_name(sqlite_url: str) -> None:
    """A regime named like a formula in the workbook reaches equity.csv; the web's copy quotes it, the stored
    file (what the CLI writes) keeps it."""
    equity = f"timestamp,equity,regime_name\n2026-01-05T21:00:00+00:00,-5.0,\"{EVIL.replace(chr(34), chr(34) * 2)}\"\n"
    store = open_store(sqlite_url, migrate=True)
    try:
        with store.write() as w:
            w.add(BacktestRun(id=1, created_at=datetime(2026, 1, 7, tzinfo=UTC), finished_at=None, author="web:admin",
                              name="r1", status="done", progress=1.0, message=None, data_source="csv",
                              data_label="csv t", index_symbol="IDX", start_ts=None, end_ts=None,
                              cash=Decimal("1000"), param_version_id=None, params_label="active",
                              params_workbook=b"xlsx", preset_name="default"))
            w.flush()
            w.add(BacktestFile(run_id=1, name="equity.csv", data=gzip.compress(equity.encode())))
        sent: Any = data.download(store, 1, "equity.csv")
        assert list(csv.reader(io.StringIO(sent["content"]))) == [
            ["timestamp", "equity", "regime_name"], ["2026-01-05T21:00:00+00:00", "-5.0", "'" + EVIL]]
    finally:
        store.dispose()
