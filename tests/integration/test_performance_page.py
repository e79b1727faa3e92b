"""The Performance page over a year of one-minute account history, on SQLite and PostgreSQL.

Expectations come from the rows the test wrote (numpy over every snapshot), not from the page's code:
the whole range is reached (downsampled), every fill is counted, the drawdown is the risk engine's
stored peak, and the metrics follow the range selector.
"""
from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

from engine.store import performance_queries as pq
from engine.trading.equity import read_marks
from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.performance_history import History, write_history
from webapp.performance_data import SAMPLE_POINTS, build_view, day_bounds

pytestmark = pytest.mark.slow


@pytest.fixture
def year_store(any_db_url):  # type: ignore[no-untyped-def]
    """A store with the year written (no app: an app that never serves a request would leave its pages'
    callbacks in Dash's global list, and the next app would register them twice)."""
    from engine.store.migrate import open_store

    store = open_store(any_db_url, migrate=True)
    yield store, write_history(store)
    store.dispose()


@pytest.fixture
def year_app(test_settings, any_db_url):  # type: ignore[no-untyped-def]
    from app import create_app
    from webapp.context import EXTENSION_KEY

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=10), start_engine=False)
    store = app.server.extensions[EXTENSION_KEY].store
    return app, store, write_history(store)


def _mdd(values: np.ndarray) -> float:
    return float((values / np.maximum.accumulate(values) - 1.0).min())


def test_queries_reach_the_whole_year_and_a_range(year_store) -> None:  # type: ignore[no-untyped-def]
    store, h = year_store
    h: History
    with store.read() as s:
        view = build_view(s, None, None)
        marks = read_marks(s)
    assert view is not None
    assert view.span.rows == len(h.times) == 98_280
    assert view.span.first_ts == h.times[0] and view.span.last_ts == h.times[-1]
    assert len(view.sample) <= SAMPLE_POINTS + 1 and len(view.chart) <= 2_000
    assert view.sample["ts"].iloc[0] == h.times[0] and view.sample["ts"].iloc[-1] == h.times[-1]
    assert view.sample["snapshots"].sum() == len(h.times)  # every snapshot lies in one bucket
    assert view.chart["ts"].iloc[-1] == h.times[-1]
    assert view.metrics["total_return"] == pytest.approx(h.equity[-1] / h.equity[0] - 1.0, rel=1e-9)
    assert view.metrics["max_drawdown"] == pytest.approx(_mdd(h.equity), rel=1e-9)  # over every snapshot
    assert view.chart["drawdown_pct"].min() == pytest.approx(_mdd(h.equity) * 100, rel=1e-9)
    assert view.fill_count == len(h.fills) and view.metrics["fills"] == len(h.fills)
    assert view.commission == pytest.approx(0.5 * len(h.fills))
    assert float(marks.peak) == pytest.approx(h.equity.max())  # type: ignore[arg-type]
    assert view.stored_peak == pytest.approx(h.equity.max())
    assert view.drawdown_from_peak == pytest.approx(h.equity[-1] / h.equity.max() - 1.0)
    assert view.chart["peak"].iloc[-1] == pytest.approx(h.equity.max())
    assert len(view.daily) == 252  # 252 session days, the first against the first snapshot
    assert view.daily["pnl"].sum() == pytest.approx(h.equity[-1] - h.equity[0], abs=1e-6)  # the days add up
    per = view.metrics["per_regime"]
    assert isinstance(per, dict) and sum(v["time_share"] for v in per.values()) == pytest.approx(1.0)
    assert sum(v["pnl"] for v in per.values()) == pytest.approx(h.equity[-1] - h.equity[0], abs=0.01)

    # a range inside the year counts its own snapshots and fills
    start, end = day_bounds(pd.Timestamp("2025-03-03").date(), pd.Timestamp("2025-04-30").date())
    assert start is not None and end is not None
    inside = (h.times >= pd.Timestamp(start)) & (h.times <= pd.Timestamp(end))
    with store.read() as s:
        view = build_view(s, start, end)
        count, _ = pq.fill_totals(s, start, end)
    assert view is not None and view.span.rows == int(inside.sum())
    eq = h.equity[inside]
    opening = h.equity[h.times < pd.Timestamp(start)][-1]  # the range's first return is from the close before it
    assert view.metrics["total_return"] == pytest.approx(eq[-1] / opening - 1.0, rel=1e-9)
    peak_before = h.equity[h.times < pd.Timestamp(start)].max()
    # from the risk engine's running peak, which the range may start below (not a peak restarted at the range start)
    from_peak = float((eq / np.maximum.accumulate(np.concatenate([[peak_before], eq]))[1:] - 1.0).min())
    assert view.metrics["max_drawdown"] == pytest.approx(from_peak, rel=1e-9)
    in_fills = h.fills[(h.fills["ts"] >= pd.Timestamp(start)) & (h.fills["ts"] <= pd.Timestamp(end))]
    assert count == view.fill_count == len(in_fills)
    assert view.chart["peak"].iloc[0] >= peak_before  # the risk engine's running peak, not the range's


def test_page_callbacks_over_http(year_app) -> None:  # type: ignore[no-untyped-def]
    app, _store, h = year_app
    client = login_client(app, "viewer")
    deps = wr.dependencies(client)
    main = wr.find(deps, "performance-fills-count.children")
    response = wr.call(client, main, {"performance-range.start_date": "2025-06-02",
                                      "performance-range.end_date": "2025-06-30"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    out = response.get_json()["response"]
    # picked days are the market's days: the test workbook's market_timezone, Asia/Kolkata (UTC+05:30, no DST)
    lo, hi = pd.Timestamp("2025-06-02", tz="Asia/Kolkata"), pd.Timestamp("2025-07-01", tz="Asia/Kolkata")
    in_june = h.fills[(h.fills["ts"] >= lo) & (h.fills["ts"] < hi)]
    assert out["performance-fills-count"]["children"] == f"{len(in_june):,}"
    assert "2025-06-02 14:30" in out["performance-span"]["children"]
    bad = wr.call(client, main, {"performance-range.start_date": "2025-07-01",
                                 "performance-range.end_date": "2025-06-01"}).get_json()["response"]
    assert bad["performance-span"]["children"] == "the start date is after the end date"
    download = wr.find(deps, "performance-download.data")
    got = wr.call(client, download, {"performance-csv-trades.n_clicks": 1}, trigger="performance-csv-trades.n_clicks")
    assert got.status_code == 200
    data = got.get_json()["response"]["performance-download"]["data"]
    rows = list(csv.DictReader(io.StringIO(data["content"])))
    assert data["filename"].startswith("regimedesk-round-trips") and len(rows) == len(h.fills) // 2
    returns = wr.call(client, download, {"performance-csv-returns.n_clicks": 1, "performance-range.start_date": None,
                                         "performance-range.end_date": None}, trigger="performance-csv-returns.n_clicks")
    data = returns.get_json()["response"]["performance-download"]["data"]
    lines = data["content"].splitlines()
    assert data["filename"].startswith("regimedesk-returns-daily-") and lines[0] == "ts,equity,return"
    symbol = wr.find(deps, "performance-symbol-chart.figure")
    chart = wr.call(client, symbol, {"performance-symbol.value": "AAA"}).get_json()["response"]
    markers = [t for t in chart["performance-symbol-chart"]["figure"]["data"] if t.get("mode") == "markers"]
    assert sum(len(t["x"]) for t in markers) == int((h.fills["symbol"] == "AAA").sum())
    for hostile in (float("nan"), -1, True, "", "x" * 10_000, [1, "a"], {"a": 1}, "2025-13-45", "../../etc"):
        for dep, names in ((main, ("performance-range.start_date", "performance-range.end_date",
                                   "performance-shown.data")),
                           (symbol, ("performance-symbol.value", "performance-range.end_date"))):
            for name in names:
                answer = wr.call(client, dep, {name: hostile})
                assert answer.status_code in (200, 204), (name, hostile, answer.status_code)
