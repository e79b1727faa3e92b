"""Audit 2, defects 2 and 4, on SQLite and PostgreSQL with the real paper broker and gateway.

2: with no engine beating, Pause entries from ACTIVE (a move that only tightens) is accepted like the kill
   switch, and the gateway then refuses new exposure; moves that loosen (resume, leaving HALTED) are still
   refused while the engine is down.
4: while a kill switch (or a flatten) is pending or running, pause/resume may not lift the halt; a command's
   result reports the state that command set, not a later command's.
"""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from engine.store.models import TradingStateRow
from engine.trading import control
from engine.trading.brokers.base import OrderSide
from engine.trading.command_runner import process_pending_commands
from engine.trading.control_results import load_result
from engine.trading.gateway import OrderIntent, submit
from engine.trading.state import TradingState
from engine.trading.sync import sync_from_broker
from tests.trading_control_fixtures import LOOSE, beat, make_ctx, open_position


@pytest.fixture()
def ctx(tmp_path, any_db_url):  # type: ignore[no-untyped-def]
    c = make_ctx(tmp_path, url=any_db_url)
    sync_from_broker(c, LOOSE)
    yield c
    c.store.dispose()


def state_of(c) -> TradingState:  # type: ignore[no-untyped-def]
    with c.store.read() as s:
        return TradingState(s.get(TradingStateRow, 1).state)


def test_controls_audit_pause_from_active_is_accepted_with_the_engine_down(ctx) -> None:  # type: ignore[no-untyped-def]
    # no heartbeat row at all: the engine is down
    r = control.perform(ctx, "web:tess", "pause", reason="stop entries", roles={"trader"}, lift_halt=False)
    assert r.status == "done", r.message
    assert state_of(ctx) is TradingState.REDUCING
    g = submit(ctx, OrderIntent("AAA", OrderSide.BUY, D(10), idempotency_key="ticket-entry"), actor="web:tess",
               origin="manual", limits=LOOSE)
    assert not g.accepted and g.reason.startswith("trading_state"), g.reason  # REDUCING: no new exposure
    # loosening moves still need a live engine
    back = control.perform(ctx, "web:tess", "resume", reason="back", roles={"trader"})
    assert back.status == "refused" and "engine is down" in back.message
    assert state_of(ctx) is TradingState.REDUCING
    assert control.perform(ctx, "web:tess", "halt", reason="k", roles={"viewer"}).status == "done"
    lift = control.perform(ctx, "web:tess", "pause", reason="lift", roles={"trader"}, lift_halt=True)
    assert lift.status == "refused" and "engine is down" in lift.message
    assert state_of(ctx) is TradingState.HALTED


def test_controls_audit_a_halt_with_flatten_in_progress_cannot_be_lifted(ctx) -> None:  # type: ignore[no-untyped-def]
    open_position(ctx, "AAA", 100)
    sync_from_broker(ctx, LOOSE)
    beat(ctx.store, ctx.clock.now())  # a live engine: resume/pause are not refused for want of one
    halt = control.perform(ctx, "web:tess", "halt", reason="kill + flatten", flatten=True, roles={"trader"},
                           execute="engine")
    assert halt.status == "pending"  # HALTED committed, its cancel + flatten not run yet
    for act in ("resume", "pause"):
        r = control.perform(ctx, "web:tess", act, reason="lift", roles={"trader"}, lift_halt=True, execute="here")
        assert r.status == "refused", (act, r)
        assert f"halt #{halt.command_id}" in r.message and "still pending" in r.message
        assert state_of(ctx) is TradingState.HALTED
    assert process_pending_commands(ctx) == 1  # the engine runs the kill switch: cancel, flatten (sell 100), sync
    done = load_result(ctx.store, halt.command_id)
    assert done is not None and done.status == "done", done
    r = control.perform(ctx, "web:tess", "resume", reason="lift", roles={"trader"}, lift_halt=True, execute="here")
    assert r.status == "done" and state_of(ctx) is TradingState.ACTIVE
    again = load_result(ctx.store, halt.command_id)
    assert again is not None and again.state is TradingState.HALTED  # the state the halt set, not the resume's

