"""An engine killed with -9 while submitting orders, restarted: no duplicate and no lost order.

The child process submits orders through the gateway into the paper broker (a slow one, so the
kill often lands between the gateway's commit and the broker's answer). After SIGKILL, the
"restarted engine" retries the same intents (same idempotency keys, as the planner does for an
unfinished cycle) and syncs: every intent ends as exactly one broker order and one store row.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[2]
N_ORDERS = 40
T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


def build(url: str, csv_dir: str, slow_s: float = 0.0):  # type: ignore[no-untyped-def]
    from engine.clock import SystemClock
    from engine.context import EngineContext
    from engine.settings import load_settings
    from engine.store.migrate import open_store
    from engine.trading import state as trading_state
    from engine.trading.brokers.paper import PaperBroker

    store = open_store(url, migrate=True)
    clock = SystemClock()
    broker = PaperBroker(store, clock, Decimal(10**7))
    if slow_s:
        inner_submit = broker.submit_order

        def slow_submit(request):  # type: ignore[no-untyped-def]
            time.sleep(slow_s)  # the window in which a crash leaves a pending_new row
            out = inner_submit(request)
            time.sleep(slow_s)  # ...or an order the broker has but the store does not know yet
            return out

        broker.submit_order = slow_submit  # type: ignore[method-assign]
    with store.write() as s:
        trading_state.ensure_state(s, clock.now())
    settings = load_settings(database_url=url, market_source="csv", csv_dir=Path(csv_dir))
    return EngineContext(settings, store, clock, broker, None)


def intents():  # type: ignore[no-untyped-def]
    from engine.trading.brokers.base import OrderSide, OrderType
    from engine.trading.gateway import OrderIntent

    return [OrderIntent("AAA", OrderSide.BUY, Decimal(1), OrderType.LIMIT, Decimal(99), "crash test", f"cycle-{i}")
            for i in range(N_ORDERS)]


def run_all(ctx) -> None:  # type: ignore[no-untyped-def]
    from engine.trading.gateway import submit
    from engine.trading.risk_limits import RiskLimits

    limits = RiskLimits(stale_data_seconds=10**6)
    for intent in intents():
        submit(ctx, intent, "system:planner", "planner", limits)


def seed(url: str, csv_dir: str) -> None:
    from engine.store.models import BarRow
    from engine.trading.sync import sync_from_broker

    ctx = build(url, csv_dir)
    with ctx.store.write() as s:
        s.add(BarRow(symbol="AAA", ts=ctx.clock.now(), open=100, high=101, low=99, close=100, volume=1e6))
    sync_from_broker(ctx)
    ctx.store.dispose()


def test_kill_9_mid_submission_then_restart_has_no_duplicates(tmp_path, any_db_url):
    from engine.store.models import OrderRow, PaperOrder
    from engine.trading.sync import PENDING_GRACE, sync_from_broker

    url, csv_dir = any_db_url, str(tmp_path)
    seed(url, csv_dir)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, __file__, url, csv_dir], cwd=ROOT, env=env)
    ctx = build(url, csv_dir)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill once a third of the orders are recorded
        with ctx.store.read() as s:
            if s.scalar(select(func.count()).select_from(OrderRow)) >= N_ORDERS // 3:
                break
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    with ctx.store.read() as s:
        recorded = s.scalar(select(func.count()).select_from(OrderRow))
    assert N_ORDERS // 3 <= recorded < N_ORDERS, "the kill should land mid-way"

    run_all(ctx)  # the restarted engine retries the same intents
    sync_from_broker(ctx)
    with ctx.store.read() as s:
        pending = list(s.scalars(select(OrderRow).where(OrderRow.status == "pending_new")))
    if pending:  # orders the broker never got: closed after the grace period, never re-sent blindly
        later = build(url, csv_dir)
        later.clock = type("Later", (), {"now": lambda self: datetime.now(UTC) + PENDING_GRACE + timedelta(1)})()
        sync_from_broker(later)
        later.store.dispose()
    with ctx.store.read() as s:
        rows = list(s.scalars(select(OrderRow)))
        broker_ids = list(s.scalars(select(PaperOrder.client_order_id)))
    assert len(rows) == N_ORDERS and len({r.client_order_id for r in rows}) == N_ORDERS
    assert len(broker_ids) == len(set(broker_ids)) <= N_ORDERS  # never a duplicate at the broker
    assert not [r for r in rows if r.status == "pending_new"]
    sent = {r.client_order_id for r in rows if r.status == "new"}
    assert sent == set(broker_ids)  # every order the broker has is known to the store as open, and vice versa
    ctx.store.dispose()


if __name__ == "__main__":  # the child: an "engine" that submits until it is killed
    sys.path.insert(0, str(ROOT))
    run_all(build(sys.argv[1], sys.argv[2], slow_s=0.02))
