"""Portfolio limits through the real gateway on SQLite and PostgreSQL: each limit refuses the order that
would breach it (naming it) and lets the one that would not; a breach by market moves sets REDUCING
(audited) and, when configured, sells down the position whose cut lowers the breach most.

Expected thresholds come from the test's own numpy/empyrical/scipy arithmetic on the same closes."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import empyrical
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sqlalchemy import select

from engine import notify
from engine.clock import ManualClock
from engine.context import EngineContext
from engine.params import default_params
from engine.params.catalog import apply_edits
from engine.params.versions import apply_version
from engine.portfolio_risk import job
from engine.settings import load_settings
from engine.store.migrate import open_store
from engine.store.models import (
    AuditEvent,
    BarRow,
    Instrument,
    OrderRow,
    RiskSnapshotRow,
)
from engine.trading import state as trading_state
from engine.trading.brokers.base import OrderSide
from engine.trading.brokers.paper import PaperBroker
from engine.trading.gateway import OrderIntent, submit
from engine.trading.risk_limits import RiskLimits
from engine.trading.state import TradingState
from engine.trading.sync import sync_from_broker
from tests.notify_receiver import Receiver
from tests.trading_control_fixtures import hold_at_100

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
D = Decimal
EQUITY = 100_000.0
LIMITS = RiskLimits(max_order_qty=D(10**6), max_order_notional=D(10**9), max_position_notional=D(10**9))
N = 80


def _closes() -> pd.DataFrame:
    """AAA and BBB follow the index closely (one cluster); CCC moves on its own. All end at 100."""
    rng = np.random.default_rng(17)
    market = rng.normal(0, 0.01, N)
    moves = {"IDX": market, "AAA": 1.2 * market + rng.normal(0, 0.003, N),
             "BBB": 1.1 * market + rng.normal(0, 0.003, N), "CCC": rng.normal(0, 0.012, N)}
    idx = [T0 - timedelta(days=N - 1 - i) for i in range(N)]
    frame = pd.DataFrame({k: np.cumprod(1 + v) for k, v in moves.items()}, index=idx)
    return 100 * frame / frame.iloc[-1]


CLOSES = _closes()
RETURNS = CLOSES.pct_change().iloc[1:]


def _params(values: dict[str, object], groups: dict[str, str] | None = None,
            caps: dict[str, float] | None = None):  # type: ignore[no-untyped-def]
    off = {"max_cvar_pct": 0, "max_stress_loss_pct": 0, "max_cluster_exposure_pct": 0}
    tables = {("TradingRisk", "risk_groups"): [{"symbol": s, "group": g} for s, g in (groups or {}).items()],
              ("TradingRisk", "group_limits"): [{"group": g, "max_exposure_pct": c} for g, c in (caps or {}).items()]}
    edit = apply_edits(default_params(), values={("TradingRisk", "main", k): v for k, v in {**off, **values}.items()},
                       tables=tables)
    assert edit.ok, edit.issues
    return edit.paramset


@pytest.fixture()
def ctx(any_db_url, tmp_path) -> EngineContext:  # type: ignore[no-untyped-def]
    store = open_store(any_db_url, migrate=True)
    clock = ManualClock(T0)
    broker = PaperBroker(store, clock, D(int(EQUITY)), D(0), D(0), D(1))
    with store.write() as s:
        trading_state.ensure_state(s, T0)
        s.add(Instrument(symbol="IDX", kind="index", has_options=False, source="csv"))
        for sym in ("AAA", "BBB", "CCC"):
            s.add(Instrument(symbol=sym, kind="stock", has_options=False, source="csv"))
        for ts, row in CLOSES.iterrows():
            for sym, px in row.items():
                s.add(BarRow(symbol=sym, ts=ts, open=px, high=px, low=px, close=px, volume=1e7))
    c = EngineContext(load_settings(database_url=any_db_url, market_source="csv", csv_dir=tmp_path), store, clock,
                      broker, None)
    yield c
    store.dispose()


def _hold(c: EngineContext, **qty: int) -> None:
    """Positions at the last close (100), bought with cash: equity stays 100,000."""
    hold_at_100(c, D(int(EQUITY)), LIMITS, T0, **qty)


def _buy(c: EngineContext, sym: str, qty: int, key: str):  # type: ignore[no-untyped-def]
    return submit(c, OrderIntent(sym, OrderSide.BUY, D(qty), idempotency_key=key), "alice", "manual", LIMITS)


def test_group_limit_refuses_the_breaching_order_and_passes_the_other(ctx):
    apply_version(ctx.store, _params({}, {"AAA": "g", "BBB": "g"}, {"g": 50.0}), "test", "cli")
    _hold(ctx, AAA=400)  # group g: 40% of equity
    refused = _buy(ctx, "BBB", 150, "b1")  # 55% > 50%
    assert not refused.accepted and refused.check == "group_limit"
    assert "group 'g'" in refused.reason and "55.00%" in refused.reason
    assert _buy(ctx, "BBB", 90, "b2").accepted  # 49%
    assert _buy(ctx, "CCC", 300, "c1").accepted  # not in the group


def test_cluster_limit_refuses_adding_to_correlated_names_only(ctx):
    corr = RETURNS.corr()
    assert corr.loc["AAA", "BBB"] > 0.9 and abs(corr.loc["AAA", "CCC"]) < 0.5  # the data's premise
    apply_version(ctx.store, _params({"max_cluster_exposure_pct": 60, "cluster_correlation_threshold": 0.7}),
                  "test", "cli")
    _hold(ctx, AAA=400, BBB=100)  # cluster [AAA, BBB] 50%
    refused = _buy(ctx, "BBB", 200, "b1")  # 70%
    assert refused.check == "max_cluster_exposure_pct" and "AAA, BBB" in refused.reason
    assert _buy(ctx, "CCC", 300, "c1").accepted  # uncorrelated: no cluster grows
    assert _buy(ctx, "BBB", 50, "b2").accepted  # 55%


def test_cvar_limit_between_two_books(ctx):
    def cvar99_pct(qty: int) -> float:  # the oracle: empyrical on the book's daily P&L
        pnl = RETURNS["AAA"].to_numpy() * qty * 100.0
        return -100 * empyrical.conditional_value_at_risk(pnl, cutoff=0.01) / EQUITY

    limit = (cvar99_pct(300) + cvar99_pct(500)) / 2
    apply_version(ctx.store, _params({"max_cvar_pct": round(limit, 4)}), "test", "cli")
    _hold(ctx, AAA=300)
    refused = _buy(ctx, "AAA", 200, "a1")
    assert refused.check == "max_cvar_pct" and f"{cvar99_pct(500):.2f}%" in refused.reason
    assert _buy(ctx, "AAA", 20, "a2").accepted


def _worst_stress_pct(qty: int) -> float:
    """A long AAA position's worst scenario loss, from the scenario definitions, with scipy's regression."""
    a, m = RETURNS["AAA"].to_numpy(), RETURNS["IDX"].to_numpy()
    fit = stats.linregress(m, a)
    sigma, resid = a.std(ddof=1), (a - fit.slope * m).std(ddof=1)
    worst_days = np.sort(a[np.argsort(m, kind="stable")[:5]])
    shocks = [fit.slope * -0.05 - 2 * resid, fit.slope * -0.10 - 2 * resid, -2.326 * sigma, -3 * sigma,
              float(worst_days[0])]
    return -100 * min(shocks) * qty * 100 / EQUITY


def test_stress_loss_limit_between_two_books(ctx):
    limit = (_worst_stress_pct(300) + _worst_stress_pct(500)) / 2
    apply_version(ctx.store, _params({"max_stress_loss_pct": round(limit, 4)}), "test", "cli")
    _hold(ctx, AAA=300)
    refused = _buy(ctx, "AAA", 200, "a1")
    assert refused.check == "max_stress_loss_pct" and f"{_worst_stress_pct(500):.2f}%" in refused.reason
    assert _buy(ctx, "AAA", 20, "a2").accepted


def test_market_move_breach_sets_reducing_and_sells_the_breaching_group(ctx):
    apply_version(ctx.store, _params({"reduce_on_breach": True}, {"AAA": "g"}, {"g": 50.0}), "test", "cli")
    _hold(ctx, AAA=450, CCC=300)  # g: 45%
    with ctx.store.write() as s:  # a history row older than the 90 days kept
        s.add(RiskSnapshotRow(ts=T0 - timedelta(days=91), equity=1.0, gross=0.0, net=0.0, cluster_net=0.0,
                              breaches=[]))
    first = job.run(ctx)
    assert first.breaches == [] and first.reduced is None
    with ctx.store.read() as s:
        assert [r.ts for r in s.scalars(select(RiskSnapshotRow))] == [T0]  # the old row went, the new one stays
    with ctx.store.read() as s:
        assert trading_state.current(s).state is TradingState.ACTIVE
    ctx.clock.advance(60)
    with ctx.store.write() as s:  # AAA jumps 40%: 63,000 of equity 118,000 = 53.4% > 50%
        s.add(BarRow(symbol="AAA", ts=ctx.clock.now(), open=140, high=140, low=140, close=140, volume=1e7))
    sync_from_broker(ctx, LIMITS)
    with Receiver() as rx:  # the REDUCING is told to people through engine/notify.py (a real HTTP receiver)
        notify.configure([rx.url()])
        try:
            result = job.run(ctx)
            got = rx.wait_for(1)
        finally:
            notify.configure([])
    assert got and got[0]["json"]["title"] == "RegimeDesk: trading REDUCING"
    assert "portfolio limit breached by market moves" in got[0]["json"]["message"]
    assert [b.limit for b in result.breaches] == ["group_limits:g"]
    assert result.breaches[0].value_pct == pytest.approx(100 * 450 * 140 / (EQUITY + 450 * 40), rel=1e-6)
    assert result.reduced == "AAA"  # CCC is outside the group: cutting it cannot lower the breach
    with ctx.store.read() as s:
        snap = trading_state.current(s)
        assert snap.state is TradingState.REDUCING and "group 'g'" in snap.reason
        change = s.scalars(select(AuditEvent).where(AuditEvent.action == "trading_state.change")).one()
        assert (change.actor, change.target, change.details["from"]) == ("system:risk", "REDUCING", "ACTIVE")
        order = s.scalars(select(OrderRow).where(OrderRow.origin == job.REDUCE_ORIGIN)).one()
        assert (order.symbol, order.side, order.qty) == ("AAA", "sell", D(113))  # a quarter of 450, rounded up


def test_metrics_show_the_stored_var_and_cvar(ctx):
    from prometheus_client.parser import text_string_to_metric_families

    from webapp.metrics import render_metrics

    _hold(ctx, AAA=300, CCC=-200)
    job.run(ctx)
    pnl = RETURNS["AAA"].to_numpy() * 30_000.0 - RETURNS["CCC"].to_numpy() * 20_000.0
    samples = {(s.name, s.labels.get("method"), s.labels.get("level")): s.value
               for fam in text_string_to_metric_families(render_metrics(ctx).decode()) for s in fam.samples}
    assert samples[("regimedesk_portfolio_cvar_usd", "historical", "99")] == pytest.approx(
        -empyrical.conditional_value_at_risk(pnl, cutoff=0.01))
    assert samples[("regimedesk_portfolio_var_usd", "historical", "95")] == pytest.approx(
        -empyrical.value_at_risk(pnl, cutoff=0.05))
    beta_a = stats.linregress(RETURNS["IDX"], RETURNS["AAA"]).slope
    beta_c = stats.linregress(RETURNS["IDX"], RETURNS["CCC"]).slope
    assert samples[("regimedesk_portfolio_beta", None, None)] == pytest.approx(
        (30_000 * beta_a - 20_000 * beta_c) / EQUITY)
    assert samples[("regimedesk_portfolio_limit_breaches", None, None)] == 0
