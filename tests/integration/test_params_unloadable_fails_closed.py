"""An active parameter version that no longer loads fails closed (SQLite and PostgreSQL; audit finding 4).

The version is stored as an older release stored it: stale_data_seconds 3 was valid then, today's minimum is 5.
The trader's own limits in it are tight (order notional 10,000, 50 shares, daily loss 0.5% -> HALTED). Before,
the gateway and the automatic halts used the schema defaults (250,000, 10,000 shares, 3% -> REDUCING) and kept
trading. Now: orders adding exposure are refused naming the cell, exits, a flatten and the kill switch still go,
the risk job moves trading to REDUCING (audited), and the Health page says why. Expected figures are by hand:
each limit is the tighter of the stored value and the default.
"""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from engine.health.grades import HEALTHY, UNHEALTHY
from engine.health.params_check import check_active_params
from engine.health.report import health_report
from engine.params import default_params
from engine.params.versions import apply_version
from engine.store.models import AuditEvent, OrderRow, ParamVersion
from engine.trading import auto_halts, control
from engine.trading import state as ts
from engine.trading.brokers.base import OrderSide
from engine.trading.gateway import OrderIntent, flatten_all, submit
from engine.trading.risk_limits import RiskLimits, active_limits
from engine.trading.state import TradingState
from engine.trading.sync import sync_from_broker
from tests.trading_control_fixtures import (
    LOOSE,
    T0,
    fill_next_bar,
    make_ctx,
    open_position,
    place_resting_orders,
)

D = Decimal
TIGHT = {"max_order_notional": 10000.0, "max_order_qty": 50, "daily_loss_limit_pct": 0.5,
         "daily_loss_action": "HALTED", "stale_data_seconds": 3}  # 3: below today's minimum of 5


@pytest.fixture()
def ctx(any_db_url, tmp_path):  # type: ignore[no-untyped-def]
    c = make_ctx(tmp_path, url=any_db_url)
    apply_version(c.store, default_params(), "alice", "ui", clock=c.clock)  # a valid version 1 first
    open_position(c, "AAA", 30)  # held: 30 AAA at 100
    sync_from_broker(c, LOOSE)
    yield c
    c.store.dispose()


def _store_unloadable(ctx, values_json: str | None = None) -> int:  # type: ignore[no-untyped-def]
    """Make a version the current schema refuses (or an unreadable row) the active one; returns its id."""
    canonical = default_params().to_canonical()
    canonical["sheets"]["TradingRisk"]["main"].update(TIGHT)
    with ctx.store.write() as s:
        s.execute(update(ParamVersion).values(is_active=False))
        row = ParamVersion(created_at=T0, author="trader", source="ui", note="stored by an older release",
                           parent_id=None, content_hash=f"old-{values_json is None}",
                           values_json=values_json or json.dumps(canonical), diff_json="[]", is_active=True)
        s.add(row)
        s.flush()
        return int(row.id)


def _order(ctx, side: OrderSide, qty: int, key: str, origin: str = "manual"):  # type: ignore[no-untyped-def]
    return submit(ctx, OrderIntent("AAA", side, D(qty), reason="test", idempotency_key=key), "alice", origin)


def test_limits_are_the_tighter_of_stored_and_default_with_the_problem_named(ctx):
    vid = _store_unloadable(ctx)
    limits = active_limits(ctx.store)
    assert limits.params_problem is not None
    assert f"the active parameter version {vid} cannot be loaded (TradingRisk!B8: stale_data_seconds: 3" \
        in limits.params_problem
    assert "only exits are accepted until a valid version is applied" in limits.params_problem
    # stored 10,000 / 50 / 0.5 / HALTED / 3 beat the defaults 250,000 / 10,000 / 3 / REDUCING / 300
    assert (limits.max_order_notional, limits.max_order_qty, limits.daily_loss_limit_pct) == (D(10000), D(50), D("0.5"))
    assert (limits.daily_loss_action, limits.stale_data_seconds) == ("HALTED", 3.0)
    assert (limits.max_position_notional, limits.drawdown_action) == (D(500000), "REDUCING")  # stored = default


def test_entries_refused_exits_and_flatten_accepted(ctx):
    vid = _store_unloadable(ctx)
    buy = _order(ctx, OrderSide.BUY, 10, "buy-1")  # 1,000: within every limit, stored or default
    assert not buy.accepted and buy.check == "params_unloadable"
    assert f"version {vid} cannot be loaded" in (buy.reason or "") and "TradingRisk!B8" in (buy.reason or "")
    sell = _order(ctx, OrderSide.SELL, 10, "sell-1")  # an exit: 30 -> 20
    assert sell.accepted, sell.reason
    stop = _order(ctx, OrderSide.SELL, 20, "stop-1", origin="stop")  # a protective exit of the rest
    assert stop.accepted, stop.reason
    with ctx.store.read() as s:
        rows = {r.client_order_id: r for r in s.scalars(select(OrderRow).where(OrderRow.origin != "test"))}
    assert rows[buy.client_order_id].status == "rejected"


def test_flatten_and_kill_switch_work(ctx):
    _store_unloadable(ctx)
    results = flatten_all(ctx, "alice", "get flat", "flat-1")  # sell 30 AAA
    assert [r.accepted for r in results] == [True], [r.reason for r in results]
    fill_next_bar(ctx, "AAA")
    open_position(ctx, "BBB", 5)
    result = control.perform(ctx, "alice", "halt", reason="kill switch", flatten=True, execute="here")
    assert result.status == "done", result.message
    with ctx.store.read() as s:
        sent = s.execute(select(OrderRow.symbol, OrderRow.side, OrderRow.qty, OrderRow.status)
                         .where(OrderRow.origin == "flatten").order_by(OrderRow.id)).all()
    assert [(sym, side, int(qty)) for sym, side, qty, _ in sent] == [("AAA", "sell", 30), ("BBB", "sell", 5)]
    assert "rejected" not in [status for *_, status in sent]


def test_unreadable_row_fails_closed_on_the_defaults(ctx):
    vid = _store_unloadable(ctx, values_json="{not json")
    limits = active_limits(ctx.store)
    assert limits == RiskLimits()  # nothing stored is readable: the defaults' figures
    assert limits.params_problem and f"version {vid} cannot be loaded (JSONDecodeError" in limits.params_problem
    buy = _order(ctx, OrderSide.BUY, 10, "buy-2")
    assert not buy.accepted and buy.check == "params_unloadable"


def test_risk_job_moves_trading_to_reducing_audited_and_cancels_entries(ctx):
    place_resting_orders(ctx, 2)  # two resting buys placed while the version still loaded
    vid = _store_unloadable(ctx)
    changes = auto_halts.evaluate(ctx)
    assert [(c.from_state, c.to_state) for c in changes] == [(TradingState.ACTIVE, TradingState.REDUCING)]
    assert f"version {vid} cannot be loaded" in changes[0].reason
    with ctx.store.read() as s:
        snap = ts.current(s)
        audited = s.scalars(select(AuditEvent).where(AuditEvent.action == "trading_state.change")).all()
        resting = s.scalars(select(OrderRow.status).where(OrderRow.client_order_id.like("rest-%"))).all()
    assert snap.state is TradingState.REDUCING and snap.changed_by == "system:risk"
    assert any("cannot be loaded" in str(a.details) for a in audited)
    assert sorted(resting) == ["canceled", "canceled"]
    assert auto_halts.evaluate(ctx) == []  # already REDUCING: nothing new


def test_health_shows_the_unloadable_version(ctx):
    assert check_active_params(ctx).status == HEALTHY
    vid = _store_unloadable(ctx)
    item = check_active_params(ctx)
    assert item.status == UNHEALTHY and f"version {vid} cannot be loaded" in item.detail
    report = health_report(ctx)  # the reader measures it itself: shown with the engine down too
    shown = [c for c in report["checks"] if c["name"] == "parameters"]
    assert shown and shown[0]["status"] == UNHEALTHY and "TradingRisk!B8" in shown[0]["detail"]
    assert report["status"] == UNHEALTHY


def test_a_valid_version_active_again_lifts_the_refusal(ctx):
    _store_unloadable(ctx)
    with ctx.store.write() as s:  # what applying a valid version leaves: a loadable active row
        s.execute(update(ParamVersion).values(is_active=False))
        s.execute(update(ParamVersion).where(ParamVersion.id == 1).values(is_active=True))
    assert active_limits(ctx.store).params_problem is None
    assert _order(ctx, OrderSide.BUY, 10, "buy-3").accepted
