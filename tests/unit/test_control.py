"""Trade control actions through engine.trading.control.perform, on a real SQLite store and the paper broker."""
from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.store.models import AuditEvent, CommandRow, KeyValue, OrderRow
from engine.trading import command_runner, commands, control
from engine.trading import state as ts
from engine.trading.brokers.base import OrderRequest, OrderSide, OrderType
from engine.trading.brokers.paper import PaperBroker
from engine.trading.state import TradingState
from tests.trading_control_fixtures import beat, make_ctx, open_position, place_resting_orders


@pytest.fixture()
def ctx(tmp_path):
    c = make_ctx(tmp_path)
    yield c
    c.store.dispose()


def current_state(ctx) -> TradingState:
    with ctx.store.read() as s:
        return ts.current(s).state


def test_kill_switch_halts_and_cancels_100_open_orders(ctx):
    """Its time (tens of ms against a 1 s goal) is measured by `python -m bench.bench_kill_switch`."""
    place_resting_orders(ctx, 100)
    assert len(ctx.broker.list_open_orders()) == 100
    result = control.perform(ctx, "alice", "kill_switch", reason="runaway planner")
    assert result.status == "done", result.message
    assert current_state(ctx) is TradingState.HALTED
    assert ctx.broker.list_open_orders() == []
    with ctx.store.read() as s:
        statuses = set(s.scalars(select(OrderRow.status)))
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action.startswith("control.halt"))))
    assert statuses == {"canceled"}
    assert [e.outcome for e in events] == ["requested", "ok"] and events[0].actor == "alice"
    assert [(st.name, st.status) for st in result.steps] == [("halt", "done"), ("cancel_orders", "done"),
                                                              ("sync_broker", "done")]
    assert "cancelled 100" in result.steps[1].detail and result.steps[1].duration_ms is not None


def test_kill_switch_with_flatten_closes_every_position(ctx):
    open_position(ctx, "AAA", 10)
    open_position(ctx, "BBB", -5)
    place_resting_orders(ctx, 3)
    result = control.perform(ctx, "alice", "halt", reason="end of day", flatten=True)
    assert result.status == "done", result.message
    assert [s.name for s in result.steps] == ["halt", "cancel_orders", "flatten", "sync_broker"]
    closing = {(o.symbol, o.side.value, o.qty) for o in ctx.broker.list_open_orders()}
    assert closing == {("AAA", "sell", Decimal(10)), ("BBB", "buy", Decimal(5))}
    assert current_state(ctx) is TradingState.HALTED
    with ctx.store.read() as s:  # through the gateway: recorded, origin "flatten", override audited
        origins = set(s.scalars(select(OrderRow.origin).where(OrderRow.status == "new")))
        overrides = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "order.flatten_override")))
    assert origins == {"flatten"} and len(overrides) == 2 and overrides[0].actor == "alice"


def test_an_automatic_flatten_while_halted_is_refused_by_the_gateway(ctx):
    open_position(ctx, "AAA", 10)
    result = control.perform(ctx, "system:risk", "halt", reason="auto", flatten=True)
    assert result.status == "failed" and "refused" in result.message and "HALTED" in result.message
    assert ctx.broker.list_open_orders() == []


def test_engine_alive_gets_the_command_and_the_halt_is_committed_before_it_runs(ctx):
    beat(ctx.store, ctx.clock.now())
    place_resting_orders(ctx, 5)
    result = control.perform(ctx, "alice", "halt", reason="test", execute="auto", handoff_s=0.0)
    # handoff_s=0: nobody claimed it in time, so the caller ran it itself
    assert result.status == "done" and "engine did not answer" in result.executor
    place_resting_orders(ctx, 5, prefix="again")
    queued = control.perform(ctx, "bob", "halt", reason="again", execute="engine")
    assert queued.status == "pending"
    assert current_state(ctx) is TradingState.HALTED  # before any broker work
    assert len(ctx.broker.list_open_orders()) == 5
    assert command_runner.process_pending_commands(ctx) == 1
    assert ctx.broker.list_open_orders() == []
    done = control.load_result(ctx.store, queued.command_id)
    assert done is not None and done.status == "done" and "(engine)" in done.executor
    assert command_runner.process_pending_commands(ctx) == 0  # idempotent: nothing runs twice


def test_stale_heartbeat_means_the_web_acts_itself(ctx):
    beat(ctx.store, ctx.clock.now() - timedelta(seconds=60))
    place_resting_orders(ctx, 10)
    result = control.perform(ctx, "web:alice", "halt", reason="engine hung")
    assert result.status == "done"
    assert ctx.broker.list_open_orders() == []
    assert "engine did not answer" not in result.executor


def test_a_command_is_claimed_once(ctx):
    queued = control.perform(ctx, "bob", "halt", reason="x", execute="engine")
    assert commands.claim(ctx.store, queued.command_id, ctx.clock.now(), "a")
    assert not commands.claim(ctx.store, queued.command_id, ctx.clock.now(), "b")


def test_pause_cancels_entries_keeps_exits_and_resume_needs_an_operator(ctx):
    open_position(ctx, "AAA", 10)
    exit_order = ctx.broker.submit_order(OrderRequest("exit-1", "AAA", OrderSide.SELL, Decimal(10), OrderType.LIMIT,
                                                      Decimal(150)))
    ctx.broker.submit_order(OrderRequest("entry-1", "AAA", OrderSide.BUY, Decimal(5), OrderType.LIMIT, Decimal(50)))
    ctx.broker.submit_order(OrderRequest("entry-2", "BBB", OrderSide.SELL, Decimal(5), OrderType.LIMIT, Decimal(150)))
    beat(ctx.store, ctx.clock.now())  # pause and resume need a live engine (issue 9: state and engine agree)
    result = control.perform(ctx, "alice", "pause", reason="news at 2pm", execute="here")
    assert result.status == "done", result.message
    assert current_state(ctx) is TradingState.REDUCING
    assert [o.broker_order_id for o in ctx.broker.list_open_orders()] == [exit_order.broker_order_id]

    refused = control.perform(ctx, "system:risk", "resume", reason="auto")
    assert refused.status == "refused" and "needs an operator" in refused.message
    assert current_state(ctx) is TradingState.REDUCING
    resumed = control.perform(ctx, "alice", "resume", reason="news passed", execute="here")
    assert resumed.status == "done" and current_state(ctx) is TradingState.ACTIVE


def test_illegal_action_is_refused_and_audited(ctx):
    control.graceful_shutdown(ctx, "alice")
    result = control.perform(ctx, "alice", "pause", reason="x")
    assert result.status == "refused" and "cannot go from STOPPED to REDUCING" in result.message
    assert not result.ok
    with ctx.store.read() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "control.pause")).one()
        row = s.get(CommandRow, result.command_id)
    assert event.outcome == "refused" and row is not None and row.status == "failed"
    with pytest.raises(control.ControlError, match="unknown control action"):
        control.perform(ctx, "alice", "explode")


def test_graceful_shutdown_cancels_saves_and_stops(ctx):
    open_position(ctx, "AAA", 10)
    place_resting_orders(ctx, 20)
    result = control.graceful_shutdown(ctx, "system:signal", flatten=False)
    assert result.status == "done", result.message
    names = [(s.name, s.status) for s in result.steps]
    assert names == [("stop_signals", "done"), ("cancel_orders", "done"), ("close_positions", "skipped"),
                     ("sync_broker", "done"), ("disconnect_broker", "done"), ("save_state", "done"), ("flush_logs", "done"),
                     ("stopped", "done")]
    assert current_state(ctx) is TradingState.STOPPED
    assert ctx.broker.list_open_orders() == []
    with ctx.store.read() as s:
        saved = s.get(KeyValue, "last_shutdown")
    assert saved is not None and saved.value["positions"] == [{"symbol": "AAA", "qty": "10"}]
    again = control.graceful_shutdown(ctx, "system:signal")  # a second signal is harmless
    assert again.status == "done" and current_state(ctx) is TradingState.STOPPED
    assert command_runner.on_engine_start(ctx) is TradingState.STOPPED  # STOPPED stays STOPPED on restart


def test_shutdown_command_calls_the_engine_exit_hook(ctx):
    beat(ctx.store, ctx.clock.now())
    queued = control.perform(ctx, "alice", "shutdown", reason="maintenance", execute="engine")
    assert current_state(ctx) is TradingState.SHUTTING_DOWN
    exits: list[bool] = []
    assert command_runner.process_pending_commands(ctx, on_shutdown=lambda: exits.append(True)) == 1
    assert exits == [True] and current_state(ctx) is TradingState.STOPPED
    assert control.load_result(ctx.store, queued.command_id).status == "done"


def test_restart_after_an_interrupted_shutdown_finishes_it(ctx):
    with ctx.store.write() as s:
        ts.change(s, ctx.clock.now(), TradingState.SHUTTING_DOWN, "alice", "maintenance")
    assert command_runner.on_engine_start(ctx) is TradingState.STOPPED


def test_cancel_one_order_by_our_id(ctx):
    place_resting_orders(ctx, 3)
    with ctx.store.read() as s:
        first = s.scalars(select(OrderRow).order_by(OrderRow.id)).first()
    result = control.perform(ctx, "alice", "cancel_order", order_id=first.id)
    assert result.status == "done", result.message
    assert len(ctx.broker.list_open_orders()) == 2
    again = control.perform(ctx, "alice", "cancel_order", order_id=first.id)
    assert again.status == "failed" and "cannot be canceled" in again.message
    assert control.perform(ctx, "alice", "cancel_order").status == "refused"


def test_every_action_has_a_role_and_only_the_plain_kill_switch_is_a_viewers():
    roles = {a: control.required_role(a) for a in control.Action}
    assert roles == {a: ("viewer" if a is control.Action.HALT else "trader") for a in control.Action}
    assert control.required_role("kill_switch", flatten=True) == "trader"


class SlowPaperBroker(PaperBroker):
    """The paper broker behind a slow network: each submission takes `delay` seconds to arrive."""

    delay = 0.4

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        import threading

        super().__init__(*args, **kwargs)
        self.sending = threading.Event()  # set once a submission is on its way

    def submit_order(self, request):  # type: ignore[no-untyped-def]
        self.sending.set()
        time.sleep(self.delay)
        return super().submit_order(request)


def test_an_order_in_flight_at_the_halt_is_caught_and_cancelled(tmp_path):
    import threading

    from engine.trading.gateway import OrderIntent, submit
    from engine.trading.sync import sync_from_broker
    from tests.trading_control_fixtures import make_ctx

    base = make_ctx(tmp_path)
    ctx = control.SimpleControlContext(store=base.store, clock=base.clock, broker=SlowPaperBroker(
        base.store, base.clock, starting_cash=Decimal(10_000_000)))
    sync_from_broker(ctx)  # an account snapshot for the gateway's checks
    intent = OrderIntent("AAA", OrderSide.BUY, Decimal(5), OrderType.LIMIT, Decimal(97), idempotency_key="race-1")
    sender = threading.Thread(target=lambda: submit(ctx, intent, actor="system:planner", origin="planner"))
    sender.start()
    assert ctx.broker.sending.wait(10)  # the gateway has recorded the order (ACTIVE) and is now sending it
    result = control.perform(ctx, "alice", "halt", reason="race")
    sender.join()
    assert result.status == "done", result.message
    assert "in flight" in result.steps[1].detail
    assert ctx.broker.list_open_orders() == []
    ctx.store.dispose()


def test_roles_guard_actions_when_given(ctx):
    refused = control.perform(ctx, "web:vic", "shutdown", reason="x", roles={"viewer"})
    assert refused.status == "refused" and "needs the trader role" in refused.message
    assert current_state(ctx) is TradingState.ACTIVE
    flatten = control.perform(ctx, "web:vic", "halt", reason="x", flatten=True, roles={"viewer"})
    assert flatten.status == "refused" and "with flatten needs the trader role" in flatten.message
    assert current_state(ctx) is TradingState.ACTIVE
    assert control.perform(ctx, "web:vic", "halt", reason="x", roles={"viewer"}).status == "done"
    assert control.perform(ctx, "web:eve", "resume", reason="x", roles={"viewer"}).status == "refused"
    beat(ctx.store, ctx.clock.now())  # resume needs a live engine (issue 9)
    assert control.perform(ctx, "web:bob", "resume", reason="x", roles={"trader"}).status == "done"


def test_resume_and_pause_are_refused_while_the_engine_is_down(ctx):
    """Issue 9: ACTIVE or REDUCING with no engine holding the lease and beating would show a green
    banner while nothing trades; the refusal says the engine is down. A kill switch still works."""
    assert control.perform(ctx, "alice", "halt", reason="x").status == "done"
    beat(ctx.store, ctx.clock.now() - timedelta(seconds=120))  # its last beat 2 minutes ago: killed
    for action in ("resume", "pause"):
        refused = control.perform(ctx, "alice", action, reason="back to work")
        assert refused.status == "refused", refused
        assert refused.message.startswith(f"{action} refused: the engine is down")
        assert "has not beaten for 2 min" in refused.message
        assert current_state(ctx) is TradingState.HALTED
    beat(ctx.store, ctx.clock.now())  # the engine is back
    assert control.perform(ctx, "alice", "resume", reason="engine back", execute="here").status == "done"
    assert current_state(ctx) is TradingState.ACTIVE
