"""Automatic halts and reductions, evaluated by the engine every few seconds (risk job).

Triggers: daily loss from the start-of-day equity, drawdown from the equity PEAK, rejected
orders in a window (all three shared with the gateway and sync through engine.trading.triggers),
stale market data, the broker's circuit breaker open, and an active parameter version that cannot be loaded
(REDUCING: the gateway refuses new exposure anyway, and the resting entry orders are cancelled). Each fires an audited state change by
"system:risk" that only ever tightens; an operator must resume.

A state tightened by anyone's trigger is then enforced once: HALTED cancels every open order but the positions'
native protective stops (an automatic halt keeps them: engine/trading/control_protection.py), REDUCING cancels the
orders that would add exposure (the same control steps as the buttons). Stale data counts from the regular
session's open when the source has an exchange (nothing is due while the market is closed). A wall-clock source
(Alpaca) is aged by its newest bar's end, not the poll's arrival (engine/market/data_age.py); the simulated and
CSV sources by the poll's arrival.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select

from engine.lease import check_fence
from engine.market import data_age
from engine.market.market_clock import market_clock_of
from engine.params.errors import ParamsError
from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.store.keyvalue import MARKET_DATA_KEY
from engine.store.models import BarRow, KeyValue, OrderRow
from engine.trading import control, triggers
from engine.trading import state as trading_state
from engine.trading.brokers.base import BrokerError
from engine.trading.equity import PEAK_KEY, START_OF_DAY_KEY, latest_equity, marks_of
from engine.trading.orders import OPEN_STATUSES
from engine.trading.risk_limits import RiskLimits, active_params_and_limits
from engine.trading.state import TradingState

log = logging.getLogger(__name__)
# Built once: they run every cycle, and building a statement cost more than running it (SQLite).
_NEWEST_BAR = select(func.max(BarRow.ts))
_OPEN_COUNT = select(func.count()).select_from(OrderRow).where(OrderRow.status.in_(OPEN_STATUSES))
_KV_ROW = select(KeyValue).where(KeyValue.key == bindparam("key"))  # what session.get would build per call
_HALT_KEYS = select(KeyValue).where(KeyValue.key.in_((PEAK_KEY, START_OF_DAY_KEY, MARKET_DATA_KEY)))
ENFORCED_KEY = "auto_halts.enforced"  # the state change (its timestamp) whose orders were already cancelled


@dataclass(frozen=True, slots=True)
class StateChange:
    from_state: TradingState
    to_state: TradingState
    reason: str
    actor: str = triggers.RISK_ACTOR


@dataclass(frozen=True, slots=True)
class AutoActions:
    """What the triggers not covered by RiskLimits do, from the TradingRisk sheet:
    `halt_on_broker_circuit_open` (True: HALTED; False: no state change, health shows it) and
    `stale_data_action` (REDUCING or HALTED)."""

    stale_data_action: str = "REDUCING"
    breaker_action: str | None = "HALTED"

    @classmethod
    def from_params(cls, ps: ParamSet | None) -> AutoActions:
        if ps is None:
            return cls()
        try:
            risk = Parameters(ps).trading_risk
            halt, stale = risk.halt_on_broker_circuit_open, risk.stale_data_action
        except ParamsError:  # an older parameter version without the TradingRisk sheet
            return cls()
        values: dict[str, Any] = {}
        if halt is not None:
            values["breaker_action"] = "HALTED" if bool(halt) else None
        if stale:
            values["stale_data_action"] = str(stale).upper()
        return cls(**values)


def _last_data_at(ctx: control.ControlContext, session: Any, now: datetime, received: Any) -> datetime | None:
    """When fresh market data last arrived: the market job's receipt time when it records one (`received`,
    the value stored under MARKET_DATA_KEY); otherwise the newest bar's time, except for the simulated
    source, whose bar times are simulated (not wall-clock) and so say nothing about freshness."""
    if isinstance(received, dict) and received.get("ts"):
        return datetime.fromisoformat(received["ts"])
    source = str(getattr(getattr(ctx, "settings", None), "market_source", "") or "")
    if source == "simulated":
        return None
    newest = session.scalar(_NEWEST_BAR)
    return None if newest is None else min(newest, now)


def _session_open(ctx: control.ControlContext, now: datetime) -> datetime | None:
    """When the exchange's regular session now open opened (None: no exchange, or closed). Data cannot be due
    before it: a feed quiet since Friday's after-hours is not stale at 09:30:30 on Monday (the first minute bar
    arrives after 09:31), and an automatic REDUCING then held every morning until an operator resumed."""
    calendar = getattr(getattr(ctx, "source", None), "calendar", None)
    if calendar is None or getattr(calendar, "exchange", None) is None:
        return None
    hours = calendar.regular_hours(now.astimezone(ZoneInfo(calendar.timezone)).date())
    return hours[0] if hours is not None and hours[0] <= now < hours[1] else None


def _receipt_age_s(ctx: control.ControlContext, session: Any, now: datetime, received: Any) -> float | None:
    """The simulated and CSV sources (no bar length in the stamp): the age of the poll's receipt."""
    last = _last_data_at(ctx, session, now, received)
    if last is None:
        return None  # no data ever: the engine is warming up; the gateway refuses orders anyway
    opened = _session_open(ctx, now)
    if opened is not None and last < opened:
        last = opened  # the age counts from the open: nothing was due while the market was closed
    return (now - last).total_seconds()


def _bar_age_s(ctx: control.ControlContext, session: Any, now: datetime, received: Any,
               bar_s: float) -> float | None:
    """A wall-clock source (the stamp records its bar length: Alpaca): the newest bar's end against the wall clock,
    within the exchange's sessions (engine/market/data_age.py). A feed arriving 25 minutes behind is 25 minutes
    old; Friday's last bars are current all weekend."""
    newest = session.scalar(_NEWEST_BAR)
    if newest is None:
        return None
    calendar = getattr(getattr(ctx, "source", None), "calendar", None) or data_age.wall_clock_calendar()
    return data_age.data_age_s(calendar, now, data_age.wall_clock_data_at(newest, bar_s, data_age.received_at(received)))


def _stale_reason(ctx: control.ControlContext, session: Any, now: datetime, limit_s: float,
                  received: Any) -> str | None:
    bar_s = data_age.recorded_bar_s(received, getattr(ctx, "settings", None))
    age = (_receipt_age_s(ctx, session, now, received) if bar_s is None
           else _bar_age_s(ctx, session, now, received, bar_s))
    if age is None or age <= limit_s:
        return None
    try:
        if not ctx.broker.is_market_open():
            return None  # quiet data outside market hours is not a fault
    except BrokerError:
        pass
    return (f"stale market data: the newest price is {age:.0f}s old (limit {limit_s:.0f}s); "
            "check the market data feed on the Health page")


def _breaker_reason(ctx: control.ControlContext) -> str | None:
    breaker_state = getattr(ctx.broker, "breaker_state", None)
    if not callable(breaker_state):
        return None
    state = str(breaker_state()).lower()
    if state != "open":
        return None
    return (f"the {ctx.broker.name} circuit breaker is open (repeated broker failures); "
            "check the broker connection on the Health page, then resume")


def _params_and_limits(ctx: control.ControlContext) -> tuple[ParamSet | None, RiskLimits]:
    """The active version and its limits, read once for two uses (the limits and the automatic actions). A
    version that cannot be loaded: fail_closed limits (risk_limits.py); the store unreachable: the defaults."""
    try:
        with ctx.store.read() as session:
            return active_params_and_limits(session)
    except Exception as exc:  # noqa: BLE001 - the store unreachable: the schema defaults, never a crash
        log.debug("active parameters unreadable (%s); default risk limits apply", exc)
        return None, RiskLimits()


def evaluate(ctx: control.ControlContext) -> list[StateChange]:
    """Run every automatic trigger once; return the state changes made (each audited)."""
    params, limits = _params_and_limits(ctx)
    actions = AutoActions.from_params(params)
    now = ctx.clock.now()
    rejections_since = triggers.rejection_since(market_clock_of(ctx), now, limits)  # orders carry market time
    breaker = _breaker_reason(ctx)
    changes: list[StateChange] = []
    with ctx.store.write() as s:
        check_fence(s, ctx)  # fenced: an engine writes only under the lease it holds (engine/lease.py)
        # the state as of now; in this transaction only a trigger that fires changes it (then it is read again)
        before = trading_state.ensure_current(s, now).state

        def fire(to: TradingState, reason: str) -> None:
            before = trading_state.current(s).state
            if triggers.tighten(s, now, to, reason):
                changes.append(StateChange(before, to, reason))

        if limits.params_problem:  # first: the reason a trader reads is the parameter problem
            fire(TradingState.REDUCING, limits.params_problem)
            before = trading_state.current(s).state
        values = {row.key: row.value for row in s.scalars(_HALT_KEYS)}  # the marks and the data receipt at once
        marks = marks_of(latest_equity(s), values)
        if marks.equity is not None:
            for reason in triggers.equity_triggers(s, now, marks.equity, marks.start_of_day, marks.peak, limits):
                after = trading_state.current(s).state
                changes.append(StateChange(before, after, reason))
                before = after
        rejected = triggers.rejection_trigger(s, now, limits, since=rejections_since)
        if rejected:
            changes.append(StateChange(before, trading_state.current(s).state, rejected))
        stale = _stale_reason(ctx, s, now, limits.stale_data_seconds, values.get(MARKET_DATA_KEY))
        if stale:
            fire(TradingState(actions.stale_data_action), stale)
        if breaker and actions.breaker_action:
            fire(TradingState(actions.breaker_action), breaker)
    for change in changes:
        log.warning("automatic %s -> %s: %s", change.from_state, change.to_state, change.reason)
    enforce(ctx)
    return changes


def enforce(ctx: control.ControlContext) -> str | None:
    """Once per automatic tightening (by any trigger), cancel the orders the new state forbids."""
    with ctx.store.read() as s:
        try:
            snap = trading_state.current(s)
        except LookupError:
            return None
        if not snap.changed_by.startswith(trading_state.SYSTEM_ACTOR_PREFIX) or snap.state not in (
                TradingState.HALTED, TradingState.REDUCING):
            return None  # nothing to enforce: the marker and the open orders are not needed
        done = s.scalars(_KV_ROW, {"key": ENFORCED_KEY}).first()
        has_open = s.scalar(_OPEN_COUNT)
    stamp = snap.changed_at.isoformat()
    if done is not None and done.value.get("changed_at") == stamp:
        return None
    action = control.Action.HALT if snap.state is TradingState.HALTED else control.Action.PAUSE
    outcome = "nothing open"
    if has_open:
        result = control.perform(ctx, triggers.RISK_ACTOR, action, reason=f"enforce {snap.state}: {snap.reason}",
                                 execute="here")
        outcome = result.status
    with ctx.store.write() as s:
        check_fence(s, ctx)  # fenced: an engine writes only under the lease it holds (engine/lease.py)
        row = s.get(KeyValue, ENFORCED_KEY)
        value = {"changed_at": stamp, "state": snap.state.value, "outcome": outcome}
        if row is None:
            s.add(KeyValue(key=ENFORCED_KEY, value=value, updated_at=ctx.clock.now()))
        else:
            row.value, row.updated_at = value, ctx.clock.now()
    return outcome
