"""The Performance page's charts and equity CSV leave deposits and withdrawals out of the drawdown and mark them.

Real HTTP to the fake Alpaca server (a CSW withdrawal, as tests/integration/test_alpaca_cash_flows.py stores
flows), a real store (SQLite and PostgreSQL), the page's own Dash callbacks over HTTP. No trading: 100,000 for
two snapshots, 10,000 withdrawn, 90,000 for two more. By hand: the time-weighted curve scales the snapshots
before the withdrawal by 90,000 / (90,000 + 10,000) = 0.9, so it is 90,000 throughout and the drawdown is 0 at
every point (the raw equity would read -10 %); the running peak, in the account's money at each point, is 100,000
before the withdrawal and 90,000 after it (the risk engine's stored peak moves by it too).
"""
from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from typing import Any, cast

import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.store.models import AccountSnapshot
from engine.trading.sync import sync_from_broker
from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.fake_alpaca import FakeAlpacaServer
from tests.fake_alpaca.cash import add_cash_flow
from tests.trading_control_fixtures import LOOSE, alpaca_fixtures
from webapp.performance_data import build_view, chart_frame

server, ctx = alpaca_fixtures()
RAW = [100_000.0, 100_000.0, 90_000.0, 90_000.0]  # the account's equity at the four snapshots


def _history(ctx: EngineContext, server: FakeAlpacaServer, after: Decimal = Decimal(0)) -> list[float]:
    """The fixture's first sync and one more at 100,000, the withdrawal, two syncs at 90,000 (then `after` more cash,
    a real P&L, and one more sync when given); the stored equity of every snapshot, oldest first."""
    clock = cast(ManualClock, ctx.clock)  # the fixture's: time moves only when the test says
    for step in range(3):
        if step == 1:
            add_cash_flow(server.book, Decimal(-10000))
        clock.advance(timedelta(minutes=2))
        sync_from_broker(ctx, LOOSE)
    if after:
        server.book.cash += after
        clock.advance(timedelta(minutes=2))
        sync_from_broker(ctx, LOOSE)
    with ctx.store.read() as s:
        return [float(e) for e in s.scalars(select(AccountSnapshot.equity).order_by(AccountSnapshot.id))]


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_a_withdrawal_is_no_drawdown_and_is_marked_on_the_equity_chart(
        ctx: EngineContext, server: FakeAlpacaServer, test_settings: Any, any_db_url: str) -> None:
    assert _history(ctx, server) == RAW
    from app import create_app  # the page on the same store, callbacks called over HTTP as the browser does

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=0), start_engine=False)
    client = login_client(app, "viewer")
    deps = wr.dependencies(client)
    out = wr.call(client, wr.find(deps, "performance-fills-count.children"),
                  {"performance-interval.n_intervals": 1}).get_json()["response"]

    drawdown = out["performance-drawdown-chart"]["figure"]["data"][0]["y"]
    assert len(drawdown) == 4 and drawdown == pytest.approx([0.0] * 4, abs=1e-9)  # raw equity: 0, 0, -10, -10
    traces = {t["name"]: t for t in out["performance-equity"]["figure"]["data"]}
    assert traces["equity"]["y"] == RAW  # the real account equity, not the adjusted curve
    assert traces["running peak"]["y"] == pytest.approx(RAW)
    marks = traces["withdrawals"]
    assert marks["y"] == [90_000.0] and marks["text"] == ["-10,000.00"] and "deposits" not in traces
    assert marks["x"] == [traces["equity"]["x"][2]]  # at the third snapshot, the first that includes it
    assert "1 deposit(s)/withdrawal(s) in range, net -10,000.00" in out["performance-notes"]["children"]

    got = wr.call(client, wr.find(deps, "performance-download.data"), {"performance-csv-equity.n_clicks": 1},
                  trigger="performance-csv-equity.n_clicks").get_json()["response"]["performance-download"]["data"]
    rows = _csv(got["content"])
    assert list(rows[0])[-2:] == ["net_cash_flow", "flow_adjusted_equity"]
    assert [float(r["equity"]) for r in rows] == RAW
    assert [float(r["net_cash_flow"]) for r in rows] == [0.0, 0.0, -10_000.0, 0.0]
    assert [float(r["flow_adjusted_equity"]) for r in rows] == pytest.approx([90_000.0] * 4, rel=1e-12)

    from pages.performance import layout  # the Equity CSV button's tooltip says what the columns are

    button = _find(layout(), "performance-csv-equity")
    assert "net_cash_flow" in button.title and "flow_adjusted_equity" in button.title


def _find(component: Any, ident: str) -> Any:
    """The component with id `ident` in a layout tree (bounded by the tree's size)."""
    if getattr(component, "id", None) == ident:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children] if children is not None else []:
        found = _find(child, ident)
        if found is not None:
            return found
    return None


def test_a_loss_after_a_withdrawal_is_still_a_drawdown_and_buckets_keep_it(
        ctx: EngineContext, server: FakeAlpacaServer) -> None:
    """After the withdrawal 4,500 is lost: 85,500 / 90,000 - 1 = -5 % at the last snapshot only. Downsampled to
    one bucket of all five snapshots (min 85,500 and max 100,000 raw: -14.5 % from the raw peak), the bucket's
    flow-adjusted low and high are 85,500 and 90,000: -5 %, and its net cash flow is the withdrawal."""
    assert _history(ctx, server, Decimal(-4500)) == [*RAW, 85_500.0]
    with ctx.store.read() as s:
        view = build_view(s, None, None)
    assert view is not None
    assert view.metrics["max_drawdown"] == pytest.approx(-0.05, abs=1e-12)
    assert view.chart["drawdown_pct"].tolist() == pytest.approx([0.0, 0.0, 0.0, 0.0, -5.0], abs=1e-9)
    assert view.chart["peak"].tolist() == pytest.approx([*RAW, 90_000.0])
    assert view.sample["net_cash_flow"].tolist() == [0.0, 0.0, -10_000.0, 0.0, 0.0]
    assert view.sample["flow_adjusted_equity"].tolist() == pytest.approx([90_000.0] * 4 + [85_500.0])
    one = chart_frame(view.sample, None, points=1)  # the whole history in one interval
    assert one["drawdown_pct"].tolist() == pytest.approx([-5.0])
    assert one["net_cash_flow"].tolist() == [-10_000.0] and one["equity"].tolist() == [85_500.0]
    with ctx.store.read() as s:  # a range from the withdrawal on: its peak before is 90,000 adjusted, not 100,000
        times = list(s.scalars(select(AccountSnapshot.ts).order_by(AccountSnapshot.id)))
        later = build_view(s, times[2], None)
    assert later is not None and later.span.rows == 3
    assert later.chart["drawdown_pct"].tolist() == pytest.approx([0.0, 0.0, -5.0], abs=1e-9)
    assert later.metrics["max_drawdown"] == pytest.approx(-0.05, abs=1e-12)
    assert later.chart["peak"].tolist() == pytest.approx([90_000.0] * 3)
    from webapp.performance_grid import flow_sample, range_flows

    with ctx.store.read() as s:  # the store's own buckets: one of all five snapshots, and the first snapshot
        bucketed = flow_sample(s, None, None, 1, view.span, range_flows(s, None, None))
    assert bucketed["snapshots"].tolist() == [0, 5]
    assert bucketed["net_cash_flow"].tolist() == [0.0, -10_000.0]
    assert (bucketed["min_equity"].iloc[1], bucketed["max_equity"].iloc[1]) == (85_500.0, 100_000.0)
    assert bucketed["min_adjusted"].iloc[1] == pytest.approx(85_500.0)
    assert bucketed["max_adjusted"].iloc[1] == pytest.approx(90_000.0)
