"""Exposure limits judge the worst case, never a resting exit netted against a new order (SQLite and PostgreSQL,
the real paper broker and gateway).

A take-profit sell far above the price may never fill: until it does, the account holds the position plus every
buy. So the per-symbol limit, gross exposure and the portfolio (group) limit count resting orders that add to a
position as filled and resting exits not at all. Expected figures are worked out by hand in each test (every
close is 100; equity 1,000,000).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.params import default_params
from engine.params.catalog import apply_edits
from engine.params.versions import apply_version
from engine.settings import load_settings
from engine.store.migrate import open_store
from engine.store.models import BarRow, Instrument
from engine.trading import state as trading_state
from engine.trading.brokers.base import OrderSide, OrderStatus, OrderType
from engine.trading.brokers.paper import PaperBroker
from engine.trading.gateway import GatewayResult, OrderIntent, submit
from engine.trading.risk_limits import RiskLimits
from tests.trading_control_fixtures import hold_at_100

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
D = Decimal
EQUITY = 1_000_000
WIDE = RiskLimits(max_order_qty=D(10**6), max_order_notional=D(10**9), max_position_notional=D(10**9),
                  max_gross_exposure_pct=D(1000), price_collar_pct=D(50))
N = 40  # daily bars: a history for the portfolio check's report


@pytest.fixture()
def ctx(any_db_url: str, tmp_path) -> Iterator[EngineContext]:  # type: ignore[no-untyped-def]
    """AAA, BBB (stocks) and IDX (the index) on random walks that all end at 100; no position yet."""
    store = open_store(any_db_url, migrate=True)
    clock = ManualClock(T0)
    rng = np.random.default_rng(5)
    with store.write() as s:
        trading_state.ensure_state(s, T0)
        for sym in ("IDX", "AAA", "BBB"):
            s.add(Instrument(symbol=sym, kind="index" if sym == "IDX" else "stock", has_options=False, source="csv"))
            path = np.cumprod(1 + rng.normal(0, 0.01, N))
            for i, px in enumerate(100 * path / path[-1]):
                p = float(px)
                s.add(BarRow(symbol=sym, ts=T0 - timedelta(days=N - 1 - i), open=p, high=p, low=p, close=p, volume=1e7))
    c = EngineContext(load_settings(database_url=any_db_url, market_source="csv", csv_dir=tmp_path), store, clock,
                      PaperBroker(store, clock, D(EQUITY), D(0), D(0), D(1)), None)
    yield c
    store.dispose()


def hold(c: EngineContext, limits: RiskLimits, **qty: int) -> None:
    """Positions bought at 100 with cash: equity stays 1,000,000."""
    hold_at_100(c, D(EQUITY), limits, T0, **qty)


def order(c: EngineContext, limits: RiskLimits, side: OrderSide, sym: str, qty: int, key: str,
          limit: str | None = None) -> GatewayResult:
    kind = OrderType.LIMIT if limit is not None else OrderType.MARKET
    return submit(c, OrderIntent(sym, side, D(qty), kind, D(limit) if limit else None, idempotency_key=key),
                  "alice", "manual", limits)


def take_profit(c: EngineContext, limits: RiskLimits, qty: int) -> None:
    """A sell limit of `qty` AAA at 104.50: it rests (every close is 100)."""
    tp = order(c, limits, OrderSide.SELL, "AAA", qty, "tp", limit="104.50")
    assert tp.accepted and tp.status is OrderStatus.NEW, tp


def test_per_symbol_limit_does_not_net_a_resting_take_profit(ctx: EngineContext) -> None:
    limits = replace(WIDE, max_position_notional=D(150_000))
    hold(ctx, limits, AAA=1000)  # 100,000
    take_profit(ctx, limits, 1000)
    # until the take-profit fills the account holds 1,000 + 1,400 = 2,400 shares = 240,000 > 150,000
    refused = order(ctx, limits, OrderSide.BUY, "AAA", 1400, "b1")
    assert not refused.accepted and refused.check == "max_position_notional"
    assert "240000.00" in (refused.reason or "")
    ok = order(ctx, limits, OrderSide.BUY, "AAA", 500, "b2")  # 1,500 shares = 150,000: at the limit, allowed
    assert ok.accepted, ok
    # a resting buy counts as filled: 1,500 (held + working) + 1 = 150,100 > 150,000
    assert order(ctx, limits, OrderSide.BUY, "AAA", 1, "b3").check == "max_position_notional"


def test_gross_exposure_does_not_net_a_resting_take_profit(ctx: EngineContext) -> None:
    limits = replace(WIDE, max_gross_exposure_pct=D(20))  # 20% of 1,000,000 = 200,000
    hold(ctx, limits, AAA=1000)  # gross 100,000
    take_profit(ctx, limits, 1000)
    # netted, AAA would count 0 and the buy 150,000; in truth 100,000 + 150,000 = 250,000 > 200,000
    refused = order(ctx, limits, OrderSide.BUY, "BBB", 1500, "b1")
    assert not refused.accepted and refused.check == "max_gross_exposure"
    assert "250000.00" in (refused.reason or "")
    assert order(ctx, limits, OrderSide.BUY, "BBB", 1000, "b2").accepted  # 100,000 + 100,000 = 200,000: at the cap
    # 1,000 AAA held (its take-profit not counted) + 1,000 BBB working = 200,000; one more AAA share: 200,100
    assert order(ctx, limits, OrderSide.BUY, "AAA", 1, "b3").check == "max_gross_exposure"


def _group_params(cap_pct: float):  # type: ignore[no-untyped-def]
    off = {"max_cvar_pct": 0, "max_stress_loss_pct": 0, "max_cluster_exposure_pct": 0}
    edit = apply_edits(default_params(), values={("TradingRisk", "main", k): v for k, v in off.items()},
                       tables={("TradingRisk", "risk_groups"): [{"symbol": "AAA", "group": "g"}],
                               ("TradingRisk", "group_limits"): [{"group": "g", "max_exposure_pct": cap_pct}]})
    assert edit.ok, edit.issues
    return edit.paramset


def test_group_limit_does_not_net_a_resting_take_profit(ctx: EngineContext) -> None:
    apply_version(ctx.store, _group_params(15.0), "test", "cli")  # group g = {AAA} at most 15% of equity
    hold(ctx, WIDE, AAA=1000)  # 10%
    take_profit(ctx, WIDE, 1000)
    # 2,400 shares x 100 / 1,000,000 = 24% > 15% (netted it read 14%)
    refused = order(ctx, WIDE, OrderSide.BUY, "AAA", 1400, "b1")
    assert not refused.accepted and refused.check == "group_limit"
    assert "group 'g'" in (refused.reason or "") and "24.00%" in (refused.reason or "")
    assert order(ctx, WIDE, OrderSide.BUY, "AAA", 500, "b2").accepted  # 1,500 x 100 = 15%: at the cap


def test_an_exit_with_a_take_profit_resting_still_goes(ctx: EngineContext) -> None:
    """Reductions are never blocked by the exposure limits: selling 400 of 1,000 with 500 resting leaves 100."""
    limits = replace(WIDE, max_position_notional=D(50_000), max_gross_exposure_pct=D(1))  # already above both
    hold(ctx, limits, AAA=1000)
    tp = order(ctx, limits, OrderSide.SELL, "AAA", 500, "tp", limit="104.50")
    assert tp.accepted, tp
    assert order(ctx, limits, OrderSide.SELL, "AAA", 400, "s1").accepted
