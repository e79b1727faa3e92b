"""The Backtest page with a run that did not finish: the other run is still shown with a note naming the bad one,
Download says why there is nothing to download, and the pickers offer finished runs only.

Runs are written as rows (no engine): run 1 done with two days of equity, run 2 cancelled with no files.
"""
from __future__ import annotations

import gzip
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from dash import html, no_update

from engine.store.db import Store
from engine.store.migrate import open_store
from engine.store.models import BacktestFile, BacktestRun
from webapp import backtest_page_data as data

EQUITY = ("timestamp,equity,cash,gross_exposure,regime_name\n"
          "2026-01-05T15:00:00+00:00,1000.0,1000.0,0.0,\n2026-01-05T21:00:00+00:00,1010.0,0.0,1010.0,Bull\n"
          "2026-01-06T21:00:00+00:00,995.0,0.0,995.0,Bull\n")
FILLS = "ts,client_order_id,symbol,side,qty,price,commission\n2026-01-05T15:00:00+00:00,o1,AAA,buy,10,100.0,1.0\n"
PRICES = ("timestamp,AAA,IDX\n2026-01-05T15:00:00+00:00,100.0,1.0\n2026-01-05T21:00:00+00:00,101.0,1.0\n"
          "2026-01-06T21:00:00+00:00,99.5,1.0\n")


def _run(run_id: int, status: str, message: str | None) -> BacktestRun:
    return BacktestRun(id=run_id, created_at=datetime(2026, 1, 7, tzinfo=UTC), finished_at=None, author="web:admin",
                       name=f"r{run_id}", status=status, progress=1.0, message=message, data_source="csv",
                       data_label="csv t", index_symbol="IDX", start_ts=None, end_ts=None, cash=Decimal("1000"),
                       param_version_id=None, params_label="active", params_workbook=b"xlsx", preset_name="default",
                       preset={}, bars=3, metrics={"total_return": -0.005} if status == "done" else None)


@pytest.fixture
def store(sqlite_url: str) -> Any:
    s = open_store(sqlite_url, migrate=True)
    with s.write() as w:
        w.add_all([_run(1, "done", None), _run(7, "cancelled", "cancelled by web:admin")])
        w.flush()
        w.add_all(BacktestFile(run_id=1, name=n, data=gzip.compress(t.encode())) for n, t in
                  (("equity.csv", EQUITY), ("fills.csv", FILLS), ("prices.csv", PRICES), ("orders.csv", "id\n")))
    yield s
    s.dispose()


def _text(component: Any) -> str:
    if isinstance(component, str):
        return component
    if isinstance(component, html.Div):
        children = component.children if isinstance(component.children, list) else [component.children]
        return " | ".join(_text(c) for c in children)
    return str(component)


def test_comparing_with_a_cancelled_run_shows_the_finished_one(store: Store) -> None:
    equity, _, daily, metrics, _, trips, fills, symbols, info = data.show(store, 1, 7)
    assert [t.name for t in equity.data if not t.name.startswith("buy")] == ["#1 r1"]
    assert list(daily.data[0].x) == ["2026-01-05", "2026-01-06"]
    assert list(daily.data[0].y) == [10.0, -15.0]  # 1010 - 1000 (starting equity), 995 - 1010
    assert "#1 r1" in str(metrics) and len(fills) == 1 and [o["value"] for o in symbols] == ["AAA", "IDX"]
    text = _text(info)
    assert text.startswith("#1: csv t") and "#7: csv t" in text
    assert "Not compared: run #7 is cancelled: cancelled by web:admin" in text


def test_the_cancelled_run_first_still_shows_the_other(store: Store) -> None:
    equity, *_, info = data.show(store, 7, 1)
    assert [t.name for t in equity.data if not t.name.startswith("buy")] == ["#1 r1"]
    assert "Not compared: run #7 is cancelled" in _text(info)


def test_a_cancelled_run_alone_says_why_it_shows_nothing(store: Store) -> None:
    equity, *_, info = data.show(store, 7, None)
    assert equity.layout.annotations[0].text == "Nothing to show: run #7 is cancelled: cancelled by web:admin"
    assert "Nothing to show: run #7 is cancelled" in _text(info) and "#7: csv t" in _text(info)


def test_a_deleted_run_is_named_not_a_crash(store: Store) -> None:
    equity, *_, info = data.show(store, 1, 99)
    assert len(equity.data) == 2 and "Not compared: backtest run 99 does not exist" in _text(info)


def test_download_of_a_cancelled_run_says_why(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[tuple[str, dict]] = []
    monkeypatch.setattr(data, "set_props", lambda cid, props: said.append((cid, props)))
    for kind in ("equity.csv", "metrics.json"):
        assert data.download(store, 7, kind) is no_update
    assert [cid for cid, _ in said] == ["backtest-status", "backtest-status"]
    assert said[0][1]["children"].children == ("Nothing to download: run #7 is cancelled: cancelled by web:admin, "
                                               "so it has no equity.csv (only its parameters.xlsx)")
    assert data.download(store, 7, "parameters.xlsx")["filename"] == "backtest-7-parameters.xlsx"
    assert data.download(store, 1, "equity.csv")["content"] == EQUITY
    assert len(said) == 2


@pytest.mark.parametrize(("run_a", "run_b", "expected"), [
    (1, None, 1), (None, 1, 1), (1, 7, 1), (7, 1, 7), (None, None, None), (True, None, None), ("1", None, None)])
def test_download_takes_the_opened_run_else_the_compare_run(run_a: Any, run_b: Any, expected: Any) -> None:
    assert data.shown_run(run_a, run_b) == expected


def test_download_with_only_the_compare_run_saves_that_run(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[tuple[str, dict]] = []
    monkeypatch.setattr(data, "set_props", lambda cid, props: said.append((cid, props)))
    sent = data.download_chosen(store, None, 1, "equity.csv")
    assert sent["filename"] == "backtest-1-equity.csv" and sent["content"] == EQUITY and said == []
    assert data.download_chosen(store, None, None, "equity.csv") is no_update
    assert [cid for cid, _ in said] == ["backtest-status"]
    assert said[0][1]["children"].children == "Nothing to download: open a stored run first (or run a backtest)"


def test_pickers_offer_finished_runs_only(store: Store) -> None:
    assert data.run_options(store) == [{"label": "#1 r1 (done)", "value": 1}]
