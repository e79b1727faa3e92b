"""Every trade control action goes through `perform`: kill switch (halt), pause, resume, flatten,
graceful shutdown, cancel one order. The Trading page, the banner, the CLI, the engine's signal
handler and automatic risk triggers all call it, so each action exists once.

Order of a kill switch: HALTED is committed first, in its own transaction, so the gateway
refuses the next order at once; then the broker steps run, each one recorded on the command
row as it finishes (the UI polls that row). When the engine is alive the broker steps are left
to it (a pending command); when its heartbeat is stale, or it does not pick the command up
within `handoff_s`, the calling process runs them itself.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DBAPIError

from engine import audit
from engine.health.liveness import engine_down_refusal
from engine.lease import check_fence
from engine.store import pg_locks
from engine.store.models import TradingStateRow
from engine.store.write_gate import urgent_writes
from engine.trading import commands
from engine.trading import state as trading_state
from engine.trading.command_runner import audit_outcome, execute_command
from engine.trading.commands import StepResult
from engine.trading.control_lift import LIFT_HALT_WORDS, HaltNotLiftedError, check_lift  # noqa: F401 - re-exported
from engine.trading.control_results import load_result
from engine.trading.control_steps import flatten_on_shutdown
from engine.trading.control_types import (  # noqa: F401 - re-exported: callers import them from here
    ALIASES,
    KINDS,
    REQUIRED_ROLE,
    TARGET_STATE,
    Action,
    ControlContext,
    ControlError,
    ControlResult,
    SimpleControlContext,
    allowed,
    parse_action,
    required_role,
    step_names,
)
from engine.trading.state import TradingState

log = logging.getLogger(__name__)

STATE_LOCK_TIMEOUT_MS = 500  # longest wait for the trading-state row before freeing it (PostgreSQL)


class StateLockedError(Exception):
    """The trading state could not be locked, even after terminating the sessions holding it."""


# What a command the web or CLI waits on may be taken over when the engine that claimed it froze: the moves
# that only tighten (each step idempotent). A resume, a shutdown or a single cancel is left to be pressed again.
TAKE_OVER: frozenset[Action] = frozenset({Action.HALT, Action.PAUSE, Action.FLATTEN})


# A shutdown is the engine's to run while it beats: the web that ran it would stop its own objects (broker, logs)
# and set STOPPED while the engine kept running with its lease. It is left pending for the engine (which stops
# after it), and run here only once the engine's heartbeat is stale.
ENGINE_RUNS: frozenset[Action] = frozenset({Action.SHUTDOWN})
WAITING_FOR_ENGINE = ("the engine has not picked it up yet: it is alive but busy, and runs the steps and then stops "
                      "when it does. No new orders go out meanwhile; the steps update live on the Trading page")


def _refuse(ctx: ControlContext, actor: str, action: Action, args: dict[str, Any], message: str) -> ControlResult:
    now = ctx.clock.now()
    with ctx.store.write() as s:
        audit.record(s, now, actor, f"control.{action.value}", target=str(args.get("order_id", "")),
                     details={**args, "error": message}, outcome="refused")
        row = commands.create(s, now, actor, action.value, args, [], commands.FAILED)
        row.result = {"executor": "", "steps": [], "message": message}
        command_id = row.id
    return ControlResult(command_id, action.value, actor, "refused", None, message)


@urgent_writes()  # a control never waits behind routine writes (engine/store/write_gate.py)
def perform(
    ctx: ControlContext,
    actor: str,
    action: str | Action,
    *,
    reason: str = "",
    flatten: bool = False,
    order_id: str | int | None = None,
    execute: str = "auto",
    handoff_s: float = 1.0,
    wait_s: float = 0.0,
    stale_after_s: float = commands.HEARTBEAT_STALE_S,
    roles: Collection[str] | None = None,
    lift_halt: bool | str = True,
) -> ControlResult:
    """Run one control action for `actor` and return its recorded outcome.

    execute: "here" runs the broker steps in this process now; "engine" leaves them to the
    engine; "auto" leaves them to a live engine but takes over when the engine's heartbeat is
    stale or it has not claimed the command within `handoff_s`. `wait_s` waits for a handed-off
    command to finish (the CLI uses it; the web shows progress instead).

    lift_halt=False: a pause or resume that finds a halt in force (trading HALTED, or STOPPED by a shutdown that
    began HALTED; checked under the state lock) is refused and nothing changes; the web passes it unless the
    trader confirmed lifting the halt in a dialog, and then passes the halt's token (HaltInfo.token): a
    different halt in force is refused too (control_lift.check_lift). True lifts any halt (the CLI).
    A shutdown is never taken over from a live engine (ENGINE_RUNS).
    """
    act = parse_action(action)
    args: dict[str, Any] = {"reason": reason.strip() or f"{act.value} by {actor}"}
    if act in (Action.HALT, Action.SHUTDOWN):
        args["flatten"] = bool(flatten)
    if act is Action.CANCEL_ORDER:
        if order_id in (None, ""):
            return _refuse(ctx, actor, act, args, "cancel_order needs the order's id; pick an order in the table")
        args["order_id"] = str(order_id)
    if roles is not None and not allowed(act, roles, flatten=bool(args.get("flatten"))):
        need = required_role(act, flatten=bool(args.get("flatten")))
        has = ", ".join(sorted(roles)) or "none"
        if args.get("flatten") and allowed(act, roles):  # may halt, may not close positions: nothing changes
            return _refuse(ctx, actor, act, args, f"closing positions needs the {need} role; press Halt without it. "
                           f"Nothing changed: {act.value} with flatten needs the {need} role and {actor} has {has}")
        return _refuse(ctx, actor, act, args, f"{act.value}{' with flatten' if args.get('flatten') else ''} needs "
                       f"the {need} role; {actor} has {has}. Ask a {need} to do it")
    if execute not in ("auto", "here", "engine"):
        raise ControlError(f"execute must be auto, here or engine, not {execute!r}")
    if act is Action.RESUME or (act is Action.PAUSE and not actor.startswith(trading_state.SYSTEM_ACTOR_PREFIX)):
        with ctx.store.read() as s:
            cur = trading_state.current(s).state if s.get(TradingStateRow, 1) is not None else None
        legal = cur is not None and TARGET_STATE[act] in trading_state.ALLOWED[cur]  # an illegal move gets its own refusal
        # only a move that loosens needs a live engine; ACTIVE -> REDUCING tightens and, like the kill switch,
        # is never refused for want of one (the gateway then refuses new exposure, engine or not)
        loosens = act is Action.RESUME or cur is TradingState.HALTED
        refusal = engine_down_refusal(ctx.store, ctx.clock.now(), act.value, stale_after_s) if legal and loosens else None
        if refusal:
            return _refuse(ctx, actor, act, args, refusal)

    now = ctx.clock.now()
    names = step_names(act, args)
    target = TARGET_STATE[act]
    with ctx.store.read() as s:
        alive = commands.engine_alive(s, now, stale_after_s)
    run_here = execute == "here" or (execute == "auto" and not alive)
    executor = commands.process_label() if run_here else ""
    try:
        status, command_id = _record_request(ctx, actor, act, args, names, target, run_here, executor, now,
                                             lift_halt)
    except trading_state.IllegalTransition as exc:
        return _refuse(ctx, actor, act, args, f"{act.value} refused: {exc}")
    except (HaltNotLiftedError, LookupError, StateLockedError) as exc:
        return _refuse(ctx, actor, act, args, str(exc))
    except DBAPIError as exc:  # the store refused the write itself (locked or unreachable): nothing can be recorded
        message = (f"{act.value} not recorded: the database refused the write ({str(exc.orig).strip()}). Nothing was "
                   "sent to the broker. With SQLite, a process frozen inside a write (a stopped engine) holds the "
                   "database lock: end it (kill -9) and repeat; PostgreSQL frees such locks by itself")
        log.error("%s by %s: %s", act.value, actor, message)
        return ControlResult(0, act.value, actor, "refused", None, message)

    if status == commands.DONE:
        audit_outcome(ctx, actor, act, command_id, "ok", "")
    elif run_here:
        execute_command(ctx, command_id, act, args, actor)
    elif execute == "auto":
        deadline = time.monotonic() + handoff_s
        while time.monotonic() < deadline and commands.status_of(ctx.store, command_id) == commands.PENDING:
            time.sleep(0.02)
        if _may_take(ctx, act, stale_after_s) and commands.claim(
                ctx.store, command_id, ctx.clock.now(), commands.process_label() + " (engine did not answer)"):
            execute_command(ctx, command_id, act, args, actor)
    if wait_s > 0:
        _wait(ctx, command_id, act, args, actor, wait_s, stale_after_s)
    result = load_result(ctx.store, command_id)
    assert result is not None
    if act in ENGINE_RUNS and result.status == commands.PENDING:
        return dataclasses.replace(result, message=WAITING_FOR_ENGINE)
    if wait_s > 0 and not result.finished and result.executor.endswith("(engine)"):
        with ctx.store.read() as s:
            stale = not commands.engine_alive(s, ctx.clock.now(), stale_after_s)
        if stale:
            return dataclasses.replace(result, message=(
                f"the engine ({result.executor}) took this {act.value} and then stopped beating: its steps may not "
                "run. Check the engine, then press again (a new command runs here when the engine is down)"))
    return result


def _may_take(ctx: ControlContext, act: Action, stale_after_s: float) -> bool:
    """Whether this process may run a command a live engine has not claimed yet (not a shutdown: ENGINE_RUNS)."""
    if act not in ENGINE_RUNS:
        return True
    with ctx.store.read() as s:
        return not commands.engine_alive(s, ctx.clock.now(), stale_after_s)


def _wait(ctx: ControlContext, command_id: int, act: Action, args: dict[str, Any], actor: str, wait_s: float,
          stale_after_s: float) -> None:
    """Wait (bounded) for a handed-off command; if the engine running it stops beating, take it over here
    (TAKE_OVER kinds) or say plainly that it is stuck, so a kill switch never reads "running" while undone."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        status = commands.status_of(ctx.store, command_id)
        if status not in (commands.PENDING, commands.RUNNING):
            return
        here = commands.process_label()
        if status == commands.PENDING and act in ENGINE_RUNS and _may_take(ctx, act, stale_after_s) and commands.claim(
                ctx.store, command_id, ctx.clock.now(), here + " (the engine stopped beating before it began)"):
            execute_command(ctx, command_id, act, args, actor)
            return
        frozen = commands.take_over(ctx.store, command_id, ctx.clock.now(), here, stale_after_s) \
            if act in TAKE_OVER else None
        if frozen is not None:
            log.error("%s #%s: engine %s stopped beating while running it; %s runs the rest", act.value,
                      command_id, frozen, here)
            with ctx.store.write() as s:
                audit.record(s, ctx.clock.now(), actor, f"control.{act.value}.take_over", target=f"command {command_id}",
                             details={"command_id": command_id, "from": frozen, "to": here}, outcome="ok")
            execute_command(ctx, command_id, act, args, actor, rerun_running=True)
            return
        time.sleep(0.25)


def _record_request(ctx: ControlContext, actor: str, act: Action, args: dict[str, Any], names: list[str],
                    target: TradingState | None, run_here: bool, executor: str, now: datetime,
                    lift_halt: bool | str = True) -> tuple[str, int]:
    """Commit the state change (if any), the audit entry and the command row; return (status, id).

    On PostgreSQL the state row lock is awaited at most STATE_LOCK_TIMEOUT_MS: a session frozen while
    holding it is terminated (and audited) and the request is tried once more.
    """
    freed = ""
    for attempt in (1, 2):
        try:
            return _record_request_once(ctx, actor, act, args, names, target, run_here, executor, now, freed,
                                        lift_halt)
        except DBAPIError as exc:
            if not pg_locks.is_lock_timeout(exc):
                raise
            holders = pg_locks.terminate_row_lock_holders(ctx.store, TradingStateRow.__tablename__)
            with ctx.store.write() as s:
                audit.record(s, ctx.clock.now(), actor, "control.state_lock_released", target="trading_state",
                             details={"action": act.value, "attempt": attempt, "waited_ms": STATE_LOCK_TIMEOUT_MS,
                                      "sessions": [h.as_dict() for h in holders]},
                             outcome="ok" if holders and all(h.terminated for h in holders) else "failed")
            if attempt == 2 or not any(h.terminated for h in holders):
                who = "; ".join(f"{h.label}, {h.state}: {'terminated' if h.terminated else h.error}"
                                for h in holders) or "no holder found"
                raise StateLockedError(
                    f"{act.value} not recorded: the trading state stayed locked by another database session "
                    f"for more than {STATE_LOCK_TIMEOUT_MS} ms ({who}). Stop the process that holds it, "
                    "then repeat the action") from exc
            freed = "; freed the state lock held by " + ", ".join(h.label for h in holders if h.terminated)
    raise AssertionError("unreachable")


def _record_request_once(ctx: ControlContext, actor: str, act: Action, args: dict[str, Any], names: list[str],
                         target: TradingState | None, run_here: bool, executor: str, now: datetime,
                         freed: str = "", lift_halt: bool | str = True) -> tuple[str, int]:
    with ctx.store.write() as s:
        pg_locks.set_lock_timeout(s, STATE_LOCK_TIMEOUT_MS)
        check_fence(s, ctx)  # fenced: an engine writes only under the lease it holds (engine/lease.py); the web and the CLI have no fence
        trading_state.ensure_state(s, now)
        steps: list[StepResult] = []
        if target is not None and not (act is Action.SHUTDOWN and trading_state.current(s).state is TradingState.STOPPED):
            t0 = time.perf_counter()
            frm = trading_state.current(s, lock=True).state
            if (lifted := check_lift(s, now, act, frm, lift_halt)) is not None:  # audited with the command
                args["lifted_halt"] = {"change_id": lifted.token, "reason": lifted.reason, "by": lifted.actor,
                                       "at": lifted.at.isoformat(), "state": lifted.state.value}
            snap = trading_state.change(s, now, target, actor, args["reason"])
            moved = (f"{frm} → {snap.state}" if frm is not snap.state else f"already {frm}") + freed
            steps.append(StepResult(names[0], commands.STEP_DONE, moved, now.isoformat(),
                                    round((time.perf_counter() - t0) * 1000, 2)))
        elif target is not None:
            steps.append(StepResult(names[0], commands.STEP_SKIPPED, "already STOPPED", now.isoformat(), 0.0))
        steps += [StepResult(n, commands.STEP_PENDING) for n in names[len(steps):]]
        no_broker_work = len(steps) == len(names) and all(st.status != commands.STEP_PENDING for st in steps)
        status = commands.DONE if no_broker_work else (commands.RUNNING if run_here else commands.PENDING)
        audit.record(s, now, actor, f"control.{act.value}", target=args.get("order_id", target or ""),
                     details={**args, "executor": executor or "engine"}, outcome="requested")
        row = commands.create(s, now, actor, act.value, args, steps, status, executor)
        if act is Action.SHUTDOWN:  # an older one still waiting for an engine is this one now (never run twice)
            commands.supersede_pending(s, now, act.value, row.id)
        if target is not None:  # the state this command set: its result reports that one (control_results)
            row.result = {**(row.result or {}), "state": trading_state.current(s).state.value}
        command_id = row.id
    return status, command_id


def graceful_shutdown(ctx: ControlContext, actor: str, flatten: bool | None = None) -> ControlResult:
    """Stop trading cleanly in this process: SHUTTING_DOWN, cancel, optionally flatten, disconnect,
    save, flush logs, STOPPED. Called by the engine's SIGTERM/SIGINT path and for the shutdown button.

    flatten=None takes the parameter set's TradingRisk `flatten_on_shutdown` (False when absent)."""
    if flatten is None:
        flatten = flatten_on_shutdown(ctx)
    return perform(ctx, actor, Action.SHUTDOWN, reason=f"graceful shutdown by {actor}", flatten=flatten,
                   execute="here")
