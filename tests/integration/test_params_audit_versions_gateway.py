"""One gateway decision, one parameter version (SQLite and PostgreSQL).

The gateway reads the active version inside the order's transaction and builds both the per-order limits and
the portfolio limits from that one read; the order row carries its id. A version applied after a caller read
its limits (the planner's plan, a screen's snapshot) takes effect on the very next order: a plan made on a
replaced version is refused ("re-plan"), a snapshot is checked against the active version.
Expected outcomes are worked out by hand from the limits each version sets."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.params import ParamSet, default_params
from engine.params.catalog import apply_edits
from engine.params.versions import active_params, apply_version
from engine.settings import load_settings
from engine.store.migrate import open_store
from engine.store.models import AuditEvent, BarRow, Instrument, OrderRow
from engine.trading import state as trading_state
from engine.trading.brokers.base import OrderSide
from engine.trading.brokers.paper import PaperBroker
from engine.trading.gateway import GatewayResult, OrderIntent, submit
from engine.trading.risk_limits import RiskLimits, active_limits
from engine.trading.sync import sync_from_broker

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
D = Decimal


def _params(main: dict[str, object], caps: dict[str, float] | None = None) -> ParamSet:
    """Default parameters with TradingRisk edits; ALFA alone in group 'g' when `caps` are given."""
    off = {"max_cvar_pct": 0, "max_stress_loss_pct": 0, "max_cluster_exposure_pct": 0}
    tables = {("TradingRisk", "risk_groups"): [{"symbol": "ALFA", "group": "g"}] if caps else [],
              ("TradingRisk", "group_limits"): [{"group": g, "max_exposure_pct": c} for g, c in (caps or {}).items()]}
    edit = apply_edits(default_params(), values={("TradingRisk", "main", k): v for k, v in {**off, **main}.items()},
                       tables=tables)
    assert edit.ok, edit.issues
    return edit.paramset


@pytest.fixture()
def ctx(any_db_url, tmp_path) -> EngineContext:  # type: ignore[no-untyped-def]
    store = open_store(any_db_url, migrate=True)
    clock = ManualClock(T0)
    broker = PaperBroker(store, clock, D(100_000), D(0), D(0), D(1))
    with store.write() as s:
        trading_state.ensure_state(s, T0)
        s.add(Instrument(symbol="ALFA", kind="stock", has_options=False, source="csv"))
        for i in range(61):  # a little history for the portfolio check; the last close (T0) is 100
            s.add(BarRow(symbol="ALFA", ts=T0 - timedelta(minutes=60 - i), open=100, high=101, low=99,
                         close=100 + (i % 3) * 0.1 if i < 60 else 100, volume=1e6))
    c = EngineContext(load_settings(database_url=any_db_url, market_source="csv", csv_dir=tmp_path), store, clock,
                      broker, None)
    sync_from_broker(c, RiskLimits())
    yield c
    store.dispose()


def _buy(c: EngineContext, key: str, origin: str, limits: RiskLimits | None = None,
         version: int | None = None) -> GatewayResult:
    """A buy of 20 ALFA at 100: 2,000 = 2% of the 100,000 equity."""
    return submit(c, OrderIntent("ALFA", OrderSide.BUY, D(20), reason="test", idempotency_key=key), "alice", origin,
                  limits, version)


def _row(c: EngineContext, coid: str) -> OrderRow | None:
    with c.store.read() as s:
        return s.scalars(select(OrderRow).where(OrderRow.client_order_id == coid)).one_or_none()


def _plan_read(c: EngineContext) -> tuple[RiskLimits, int | None]:
    """What run_planner_job reads before it builds its plan."""
    with c.store.read() as s:
        params = active_params(s)
    return RiskLimits.from_params(params), params.version_id


def test_a_planner_order_made_on_a_replaced_version_is_refused_not_sent(ctx):
    v1 = apply_version(ctx.store, _params({}), "test", "cli").version_id
    limits, version = _plan_read(ctx)
    assert version == v1 and limits.max_order_qty == 10_000
    v2 = apply_version(ctx.store, _params({"max_order_qty": 1}), "trader", "ui", "tighten").version_id  # mid-plan
    refused = _buy(ctx, "plan:0", "planner", limits, version)
    assert not refused.accepted and refused.check == "params_changed"
    assert f"version {v1} -> {v2}" in (refused.reason or "") and "re-plan" in (refused.reason or "")
    assert _row(ctx, refused.client_order_id) is None  # nothing recorded: the next cycle may send the same step
    with ctx.store.read() as s:
        audits = s.scalars(select(AuditEvent).where(AuditEvent.action == "order.rejected")).all()
    assert [a.details["check"] for a in audits] == ["params_changed"]
    # the next planner cycle re-plans on the active version: its limits apply, its id is stamped
    limits, version = _plan_read(ctx)
    again = _buy(ctx, "plan:0", "planner", limits, version)
    assert not again.accepted and again.check == "max_order_qty", again
    row = _row(ctx, again.client_order_id)
    assert row is not None and row.param_version_id == v2


def test_a_loosened_version_also_makes_the_plan_re_plan(ctx):
    apply_version(ctx.store, _params({"max_order_qty": 30}), "test", "cli")
    limits, version = _plan_read(ctx)
    v2 = apply_version(ctx.store, _params({"max_order_qty": 10_000}), "trader", "ui", "loosen").version_id
    assert _buy(ctx, "plan:0", "planner", limits, version).check == "params_changed"
    limits, version = _plan_read(ctx)
    sent = _buy(ctx, "plan:1", "planner", limits, version)
    assert sent.accepted, sent
    row = _row(ctx, sent.client_order_id)
    assert row is not None and row.param_version_id == v2


def test_a_limits_snapshot_of_a_replaced_version_is_checked_against_the_active_one(ctx):
    """A screen's or the CLI's limits read just before the order (manual ticket, Close, a web Send)."""
    apply_version(ctx.store, _params({}), "test", "cli")
    snapshot = active_limits(ctx.store)
    v2 = apply_version(ctx.store, _params({"max_order_qty": 1}), "trader", "ui", "tighten").version_id
    refused = _buy(ctx, "m1", "manual", snapshot)
    assert not refused.accepted and refused.check == "max_order_qty", refused
    row = _row(ctx, refused.client_order_id)
    assert row is not None and row.param_version_id == v2


def test_a_rejection_never_combines_two_versions(ctx):
    """v1: loose everywhere; v2: max_order_qty 1 and group 'g' (ALFA) capped at 1% of equity. The 2% buy breaks
    both of v2's limits: the per-order check runs first, so it names max_order_qty (with v1's per-order limits
    and v2's group limit it named group_limit)."""
    apply_version(ctx.store, _params({}, {"g": 150.0}), "test", "cli")
    snapshot = active_limits(ctx.store)
    v2 = apply_version(ctx.store, _params({"max_order_qty": 1}, {"g": 1.0}), "trader", "ui").version_id
    refused = _buy(ctx, "m1", "manual", snapshot)
    assert refused.check == "max_order_qty", refused
    # v3 keeps the 1% group cap but allows the order's size: the group limit (v3's) refuses it
    v3 = apply_version(ctx.store, _params({}, {"g": 1.0}), "trader", "ui").version_id
    refused = _buy(ctx, "m2", "manual", snapshot)
    assert refused.check == "group_limit" and "1%" in (refused.reason or ""), refused
    assert (_row(ctx, refused.client_order_id) or OrderRow()).param_version_id == v3 != v2


def test_an_order_without_limits_carries_the_version_it_was_checked_against(ctx):
    v1 = apply_version(ctx.store, _params({}), "test", "cli").version_id
    sent = _buy(ctx, "m1", "manual")
    assert sent.accepted, sent
    assert (_row(ctx, sent.client_order_id) or OrderRow()).param_version_id == v1


def test_hand_built_limits_are_used_as_given(ctx):
    """Tests and tools pass their own limits (no version): they apply, whatever version is active."""
    apply_version(ctx.store, _params({"max_order_qty": 1}), "test", "cli")
    loose = RiskLimits(max_order_qty=D(10**6), max_order_notional=D(10**9), max_position_notional=D(10**9))
    assert _buy(ctx, "t1", "manual", loose).accepted
