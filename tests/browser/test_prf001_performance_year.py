"""Performance page with a year of one-minute account history: the whole year shows, a date range narrows
the metrics and counts, and the figures match what the test wrote."""
from __future__ import annotations

import time

import pandas as pd
import pytest
from selenium.webdriver.common.keys import Keys

from tests.auth_helpers import browser_login
from tests.performance_history import write_history

pytestmark = pytest.mark.slow


def _set_date(dash_duo, side: str, value: str) -> None:  # type: ignore[no-untyped-def]
    field = dash_duo.find_element(f"#performance-range-{side}")
    field.click()
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(value)
    field.send_keys(Keys.ENTER)


def _wait_text(dash_duo, selector: str, predicate, timeout: float = 60.0) -> str:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    text = ""
    while time.time() < deadline:
        try:
            text = dash_duo.find_element(selector).text
        except Exception:  # noqa: BLE001 - the element may be replaced by a refresh right now
            text = ""
        if predicate(text):
            return text
        time.sleep(0.3)
    raise AssertionError(f"{selector} never satisfied the check; last text {text!r}")


def test_prf001_year_of_history_and_a_date_range(dash_duo, test_settings) -> None:  # type: ignore[no-untyped-def]
    from app import create_app
    from webapp.context import EXTENSION_KEY

    app = create_app(test_settings(warmup_polls=10), start_engine=False)
    history = write_history(app.server.extensions[EXTENSION_KEY].store)
    browser_login(dash_duo, app, "viewer", path="/performance")

    whole = f"{len(history.fills):,}"
    _wait_text(dash_duo, "#performance-fills-count", lambda t: t == whole)
    span = dash_duo.find_element("#performance-span").text
    assert span.startswith("2025-01-02 14:30") and span.endswith("2025-12-19 20:59"), span
    assert "98,280 snapshots" in dash_duo.find_element("#performance-notes").text
    sharpe = dash_duo.find_element("#performance-metric-sharpe").text
    assert sharpe not in ("", "—"), sharpe
    first_return = dash_duo.find_element("#performance-return").text

    _set_date(dash_duo, "start", "2025-06-02")
    _set_date(dash_duo, "end", "2025-06-30")
    fills = history.fills
    # picked days are the market's days: the test workbook's market_timezone, Asia/Kolkata (UTC+05:30, no DST)
    lo, hi = pd.Timestamp("2025-06-02", tz="Asia/Kolkata"), pd.Timestamp("2025-07-01", tz="Asia/Kolkata")
    june = int(((fills["ts"] >= lo) & (fills["ts"] < hi)).sum())
    _wait_text(dash_duo, "#performance-fills-count", lambda t: t == f"{june:,}")
    assert dash_duo.find_element("#performance-span").text.startswith("2025-06-02 14:30")
    inside = (history.times >= lo) & (history.times < hi)
    eq = history.equity[inside]
    opening = history.equity[history.times < lo][-1]  # a range opens with the last snapshot before it
    expected = f"{(eq[-1] / opening - 1) * 100:+.2f}%"
    _wait_text(dash_duo, "#performance-return", lambda t: t == expected)
    assert expected != first_return
    assert dash_duo.find_element("#performance-metric-total-return").text == expected
    dash_duo.wait_for_contains_text("#performance-metrics", "Sharpe ratio: mean(r - rf)", timeout=30)

    # a position's link (/performance?symbol=X) opens the symbol's chart with its fills and P&L
    dash_duo.driver.get(dash_duo.server_url + "/performance?symbol=AAA")
    _wait_text(dash_duo, "#performance-symbol-pnl", lambda t: "realised P&L" in t)
    markers = dash_duo.find_elements("#performance-symbol-chart g.trace.scatter g.points path.point")
    assert len(markers) == int((fills["symbol"] == "AAA").sum()), len(markers)
    assert [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"] == []
