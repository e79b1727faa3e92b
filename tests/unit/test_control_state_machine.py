"""The persisted trading state machine: every legal move, refusal of every illegal one, history and audit."""
from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.store.models import AuditEvent, TradingStateChange
from engine.trading import state as ts
from engine.trading.state import ALLOWED, OPERATOR_ONLY, IllegalTransition, TradingState
from tests.trading_control_fixtures import T0, make_store


@pytest.fixture()
def store(tmp_path):
    s = make_store(tmp_path)
    yield s
    s.dispose()


def force(store, state: TradingState) -> None:
    """Put the row in `state` directly (test set-up, not a transition under test)."""
    with store.write() as s:
        ts.ensure_state(s, T0)
        row = ts._row(s, lock=False)
        row.state = state.value


PAIRS = [(a, b) for a, b in itertools.product(TradingState, TradingState) if a is not b]


@pytest.mark.parametrize(("frm", "to"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_operator_moves_follow_the_table(store, frm, to):
    force(store, frm)
    with store.write() as s:
        if to in ALLOWED[frm]:
            assert ts.change(s, T0, to, "alice", "test").state is to
        else:
            with pytest.raises(IllegalTransition, match=f"cannot go from {frm} to {to}"):
                ts.change(s, T0, to, "alice", "test")


@pytest.mark.parametrize(("frm", "to"), sorted(OPERATOR_ONLY), ids=[f"{a}->{b}" for a, b in sorted(OPERATOR_ONLY)])
def test_automatic_triggers_may_only_tighten(store, frm, to):
    force(store, frm)
    with store.write() as s, pytest.raises(IllegalTransition, match="needs an operator"):
        ts.change(s, T0, to, "system:risk", "auto")


def test_every_change_records_who_when_why_and_from_where(store):
    clock = ManualClock(T0)
    with store.write() as s:
        ts.ensure_state(s, clock.now())
        ts.change(s, clock.now(), TradingState.REDUCING, "system:risk", "daily loss 2.1% > 2%")
        clock.advance(30)
        ts.change(s, clock.now(), TradingState.HALTED, "alice", "kill switch")
    with store.read() as s:
        history = [(c.from_state, c.to_state, c.actor, c.reason, c.ts) for c in s.scalars(
            select(TradingStateChange).order_by(TradingStateChange.id))]
        audit = [e.details for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "trading_state.change"))]
        snap = ts.current(s)
    assert history == [("ACTIVE", "REDUCING", "system:risk", "daily loss 2.1% > 2%", T0),
                       ("REDUCING", "HALTED", "alice", "kill switch", clock.now())]
    assert [d["from"] for d in audit] == ["ACTIVE", "REDUCING"]
    assert (snap.state, snap.previous_state, snap.changed_by) == (TradingState.HALTED, TradingState.REDUCING, "alice")


def test_a_reason_is_required_and_a_refused_change_leaves_no_trace(store):
    force(store, TradingState.ACTIVE)
    with pytest.raises(IllegalTransition, match="reason is required"), store.write() as s:
        ts.change(s, T0, TradingState.HALTED, "alice", "  ")
    with store.read() as s:
        assert ts.current(s).state is TradingState.ACTIVE
        assert s.scalars(select(TradingStateChange)).first() is None


def test_the_state_survives_a_reopen(tmp_path):
    store = make_store(tmp_path)
    with store.write() as s:
        ts.ensure_state(s, T0)
        ts.change(s, T0, TradingState.HALTED, "alice", "overnight")
    store.dispose()
    again = make_store(tmp_path)
    with again.read() as s:
        assert ts.current(s).state is TradingState.HALTED
    again.dispose()
