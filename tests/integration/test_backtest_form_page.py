"""The Backtest form as the browser gets it: choices present at load (no blank dropdowns), a cash field that
sends what was typed, an upload that refuses nothing silently, and a stored range that says what it covers."""
from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.integration import backtest_data
from webapp.context import EXTENSION_KEY


def _find(node: object, ident: str) -> dict:
    """The component with this id in a serialised layout."""
    if isinstance(node, dict):
        if node.get("props", {}).get("id") == ident:
            return node
        children = node.get("props", {}).get("children") if "props" in node else None
        for child in (children if isinstance(children, list) else [children]):
            found = _find(child, ident)
            if found:
                return found
    elif isinstance(node, list):
        for child in node:
            found = _find(child, ident)
            if found:
                return found
    return {}


@pytest.fixture()
def trader_app(test_settings, tmp_path):  # type: ignore[no-untyped-def]
    from app import create_app

    folder = backtest_data.csv_dir(tmp_path / "csv", bars=20)
    app = create_app(test_settings(warmup_polls=0, csv_dir=str(folder)), start_engine=False)
    return app, login_client(app, "trader")


def test_form_layout_has_its_choices_and_plain_inputs(trader_app) -> None:  # type: ignore[no-untyped-def]
    _app, client = trader_app
    router = wr.find(wr.dependencies(client), "_pages_content.children")
    response = wr.call(client, router, {"_pages_location.pathname": "/backtest"})
    assert response.status_code == 200
    layout = json.loads(response.get_data(as_text=True))["response"]["_pages_content"]["children"]
    version, preset = _find(layout, "backtest-version")["props"], _find(layout, "backtest-preset")["props"]
    assert version["value"] == "active" and {"label": "the active version", "value": "active"} in version["options"]
    assert preset["value"] == "default" and {"label": "default", "value": "default"} in preset["options"]
    assert _find(layout, "backtest-csv-dir")["props"]["options"] == [{"label": "CSV source (csv)", "value":
                                                                      "CSV source (csv)"}]
    cash = _find(layout, "backtest-cash")["props"]
    assert cash["type"] == "text" and "min" not in cash and "max" not in cash
    upload = _find(layout, "backtest-upload")["props"]
    assert "accept" not in upload and "max_size" not in upload
    text = response.get_data(as_text=True)
    assert "CSV files (timestamp, open, high, low, close, volume[, symbol]), up to 5.0 MB" in text
    assert "2024-01-02" not in text and "2024-12-31" not in text  # no placeholder range the data may not have
    for waiting in ("drawdown from the peak: open or run a backtest", "P&L per market day: open or run a backtest",
                    "a symbol's price with regime bands and fills: open a run, then choose a symbol"):
        assert waiting in text  # no blank panel with a toolbar before a run is open
    runs = wr.find(wr.dependencies(client), "backtest-run-a.options")
    assert "backtest-version" not in runs["output"] and "backtest-preset" not in runs["output"]


def test_only_the_chosen_sources_input_is_shown(trader_app: tuple[Any, Any]) -> None:
    """The CSV folder for "CSV folder", the upload for "uploaded CSV", neither for stored history (the default);
    both stay in the layout (hidden), so their values still reach the run."""
    _app, client = trader_app
    router = wr.find(wr.dependencies(client), "_pages_content.children")
    response = wr.call(client, router, {"_pages_location.pathname": "/backtest"})
    layout = json.loads(response.get_data(as_text=True))["response"]["_pages_content"]["children"]
    assert _find(layout, "backtest-source")["props"]["value"] == "stored"
    folder, upload = _find(layout, "backtest-csv-dir-wrap"), _find(layout, "backtest-upload-wrap")
    assert folder["props"]["style"] == {"display": "none"} and upload["props"]["style"] == {"display": "none"}
    assert _find(folder, "backtest-csv-dir") and _find(upload, "backtest-upload")
    assert _find(upload, "backtest-upload-status")  # a refused file's reason goes with the upload

    toggle = wr.find(wr.dependencies(client), "backtest-csv-dir-wrap.style")
    shown = {}
    for source in ("csv", "upload", "stored"):
        answer = wr.call(client, toggle, {"backtest-source.value": source}, trigger="backtest-source.value")
        assert answer.status_code == 200
        got = answer.get_json()["response"]
        shown[source] = (got["backtest-csv-dir-wrap"]["style"], got["backtest-upload-wrap"]["style"])
    assert shown == {"csv": ({}, {"display": "none"}), "upload": ({"display": "none"}, {}),
                     "stored": ({"display": "none"}, {"display": "none"})}


def test_a_range_of_one_bar_is_refused_before_a_run_is_recorded(test_settings: Any, any_db_url: str,
                                                               tmp_path: Path) -> None:
    import pandas as pd

    from app import create_app
    from engine.backtest import runs

    folder = backtest_data.csv_dir(tmp_path / "csv", bars=20)
    app = create_app(test_settings(database_url=any_db_url, warmup_polls=0, csv_dir=str(folder)), start_engine=False)
    client = login_client(app, "trader")
    day = pd.read_csv(tmp_path / "csv" / "IDX.csv")["timestamp"].iloc[5][:10]  # one trading day of the folder
    start = wr.find(wr.dependencies(client), "backtest-job.data")
    response = wr.call(client, start, {"backtest-source.value": "csv", "backtest-csv-dir.value": "CSV source (csv)",
                                       "backtest-cash.value": "100000", "backtest-start.value": day,
                                       "backtest-end.value": day, "backtest-run.n_clicks": 1},
                       trigger="backtest-run.n_clicks")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert f"{day} to {day} holds 1 bar of IDX; a backtest needs at least 2" in text
    assert "backtest-job" not in response.get_json()["response"]  # nothing started
    assert runs.list_runs(app.server.extensions[EXTENSION_KEY].store) == []


def test_every_refused_upload_says_why(trader_app) -> None:  # type: ignore[no-untyped-def]
    _app, client = trader_app
    dep = wr.find(wr.dependencies(client), "backtest-upload-data.data")
    csv = b"timestamp,open,high,low,close,volume\n2024-01-02,1,2,0.5,1.5,10\n"

    def send(data: bytes, name: str) -> str:
        contents = "data:text/csv;base64," + base64.b64encode(data).decode()
        response = wr.call(client, dep, {"backtest-upload.contents": contents, "backtest-upload.filename": name},
                           trigger="backtest-upload.contents")
        assert response.status_code == 200
        status = response.get_json()["response"]["backtest-upload-status"]["children"]
        return status if isinstance(status, str) else status["props"]["children"]

    assert "notes.txt was refused: notes.txt: upload a .csv file" in send(csv, "notes.txt")
    big = send(csv + b"2024-01-03,1,2,0.5,1.5,10\n" * 240_000, "big.csv")  # 6.4 MB > the 5 MB limit
    assert "big.csv was refused: the file is larger than the 5.0 MB upload limit; split it or use a CSV folder " \
           "under data/backtest/" in big
    good = send(csv, "good.csv")
    assert good.startswith("good.csv: GOOD (1 bars)")  # the next file replaces the message
    assert "; note: the data holds only GOOD, the index the regime is read from; the planner trades the other " \
           "symbols, so no order can be placed" in good  # a one-symbol file: why a run of it will trade nothing
    two = (b"timestamp,symbol,open,high,low,close,volume\n2024-01-02,IDX,1,2,0.5,1.5,10\n"
           b"2024-01-02,AAA,1,2,0.5,1.5,10\n")
    both = send(two, "two.csv")
    assert both == "two.csv: AAA (1 bars), IDX (1 bars)"  # the stocks are traded: no note


@pytest.mark.parametrize(("cash", "message"), [
    (None, "enter the starting cash (a number from 100 to 1,000,000,000,000)"),
    ("e", "starting cash 'e' is not a number"),
    ("50", "starting cash 50 is below the minimum of 100"),
])
def test_cash_messages_over_http(trader_app, cash, message) -> None:  # type: ignore[no-untyped-def]
    _app, client = trader_app
    start = wr.find(wr.dependencies(client), "backtest-job.data")
    response = wr.call(client, start, {"backtest-source.value": "csv", "backtest-csv-dir.value": "CSV source (csv)",
                                       "backtest-cash.value": cash, "backtest-run.n_clicks": 1},
                       trigger="backtest-run.n_clicks")
    assert response.status_code == 200 and message in response.get_data(as_text=True)


def test_a_stored_range_outside_the_data_says_what_it_covers(sqlite_url) -> None:  # type: ignore[no-untyped-def]
    from engine.backtest.inputs import BacktestError, load_stored_history, parse_date
    from engine.store.migrate import open_store
    from engine.store.models import BarRow, Instrument

    store = open_store(sqlite_url, migrate=True)
    try:
        with store.write() as s:
            s.add(Instrument(symbol="IDX", kind="index", has_options=False, source="simulated"))
            s.add_all([BarRow(symbol="IDX", ts=ts, open=1, high=2, low=0.5, close=1.5, volume=10)
                       for ts in (datetime(2026, 1, 5, 14, 30, tzinfo=UTC), datetime(2026, 1, 6, 16, 33, tzinfo=UTC))])
        with pytest.raises(BacktestError) as err:
            load_stored_history(store, parse_date("2027-01-01", "start"), parse_date("2027-01-31", "end", True))
        assert str(err.value) == ("no stored IDX bars between 2027-01-01 00:00 and 2027-01-31 23:59; "
                                  "the data covers 2026-01-05 14:30 to 2026-01-06 16:33 UTC")
        with pytest.raises(BacktestError) as err:
            load_stored_history(store, None, parse_date("2025-12-31", "end", True))
        assert str(err.value) == ("no stored IDX bars between the first bar and 2025-12-31 23:59; "
                                  "the data covers 2026-01-05 14:30 to 2026-01-06 16:33 UTC")
    finally:
        store.dispose()
