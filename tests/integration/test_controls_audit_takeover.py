"""Audit 2, defect 5: an engine claims the kill switch's command and then freezes (neither runs its steps nor
beats again). The web's perform, waiting as webapp/control_actions.run_control does (handoff 1 s, wait 8 s),
takes the command over once the heartbeat is stale (5 s) and cancels the resting order itself. Real store on
SQLite and PostgreSQL, the real paper broker, the system clock (the staleness is wall time)."""
from __future__ import annotations

import threading
import time
from decimal import Decimal as D

from engine.clock import SystemClock
from engine.trading import commands, control
from engine.trading.brokers.base import OrderRequest, OrderSide, OrderType
from tests.trading_control_fixtures import beat, make_ctx


def test_controls_audit_a_kill_switch_claimed_by_a_frozen_engine_is_taken_over(tmp_path, any_db_url) -> None:  # type: ignore[no-untyped-def]
    ctx = make_ctx(tmp_path, clock=SystemClock(), url=any_db_url)
    try:
        ctx.broker.submit_order(OrderRequest("rest-1", "AAA", OrderSide.BUY, D(10), OrderType.LIMIT, D(50)))
        assert len(ctx.broker.list_open_orders()) == 1
        beat(ctx.store, ctx.clock.now())  # the engine is live now; it never beats again
        claimed: list[int] = []

        def frozen_engine() -> None:  # claims the pending command as process_pending_commands does, then hangs
            for _ in range(100):  # at most 100 x 0.05 s
                with ctx.store.read() as s:
                    rows = [r.id for r in commands.pending(s, control.KINDS)]
                if rows:
                    if commands.claim(ctx.store, rows[0], ctx.clock.now(), "host:4242 (engine)"):
                        claimed.append(rows[0])
                    return
                time.sleep(0.05)

        thread = threading.Thread(target=frozen_engine, daemon=True)
        thread.start()
        t0 = time.monotonic()
        r = control.perform(ctx, "web:tess", "halt", reason="kill", handoff_s=1.0, wait_s=8.0, roles={"viewer"})
        took = time.monotonic() - t0
        thread.join(5)
        assert claimed == [r.command_id], "the frozen engine claimed the command first"
        assert r.status == "done", r
        assert "took over from host:4242 (engine)" in r.executor
        assert ctx.broker.list_open_orders() == []  # the resting buy is canceled within the web's wait
        assert took < 8.0 + 3.0  # bounded: stale after 5 s, then the steps run here
    finally:
        ctx.store.dispose()
