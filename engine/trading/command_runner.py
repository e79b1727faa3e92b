"""Running a control command's broker steps, and the engine's command job.

`control.perform` records a command (state change, audit, the command row); its broker steps (cancel,
flatten, sync, disconnect...) run here, each recorded on the command row as it finishes, either in the
process that asked (the engine is down or slow) or in the engine, which claims pending commands every
tick. A claimed command runs once: the claim is a conditional update of its status.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from engine import audit, notify
from engine.lease import check_fence
from engine.store.models import CommandRow
from engine.store.write_gate import urgent_writes
from engine.trading import commands, control_steps
from engine.trading import state as trading_state
from engine.trading.commands import StepResult
from engine.trading.control_types import KINDS, Action, ControlContext, ControlError, parse_action, step_names
from engine.trading.state import TradingState

log = logging.getLogger(__name__)


def audit_outcome(ctx: ControlContext, actor: str, act: Action, command_id: int, outcome: str, message: str) -> None:
    with ctx.store.write() as s:
        audit.record(s, ctx.clock.now(), actor, f"control.{act.value}.result", target=f"command {command_id}",
                     details={"command_id": command_id, "message": message}, outcome=outcome)


def execute_command(ctx: ControlContext, command_id: int, act: Action, args: dict[str, Any], actor: str,
                    rerun_running: bool = False) -> None:
    """Run a claimed command's remaining steps, recording each; never raises (failures are recorded).

    rerun_running: a command taken over from a frozen engine also runs again the step it froze in (steps are
    idempotent: control_steps)."""
    with ctx.store.read() as s:
        row = s.get(CommandRow, command_id)
        assert row is not None
        done = {StepResult.from_dict(d).name: StepResult.from_dict(d) for d in (row.result or {}).get("steps", [])}
    names = step_names(act, args)
    log_ = commands.StepLog(ctx.store, command_id,
                            [done.get(n, StepResult(n, commands.STEP_PENDING)) for n in names])
    failures: list[str] = []
    todo = {commands.STEP_PENDING, commands.STEP_RUNNING} if rerun_running else {commands.STEP_PENDING}
    for name in names:
        if log_.steps[name].status not in todo:
            continue
        started = ctx.clock.now()
        log_.set(StepResult(name, commands.STEP_RUNNING, "", started.isoformat()))
        t0 = time.perf_counter()
        run: Callable[..., str] = control_steps.STEPS[name]
        try:
            detail = run(ctx, actor=actor, args={**args, "command_id": command_id, "action": act.value})
            status = commands.STEP_SKIPPED if detail.startswith("skipped") else commands.STEP_DONE
        except Exception as exc:  # noqa: BLE001 - a failed step is recorded, the next steps still run
            log.exception("control step %s of command %s failed", name, command_id)
            detail = str(exc) if isinstance(exc, ControlError) else f"{type(exc).__name__}: {exc}"
            status = commands.STEP_FAILED
            failures.append(f"{name}: {detail}")
        log_.set(StepResult(name, status, detail, started.isoformat(), round((time.perf_counter() - t0) * 1000, 2)))
    synced = log_.steps.get("sync_broker")  # the final broker sync says what was filled and what remains
    message = "; ".join(failures) if failures else (
        f"all steps done; {synced.detail}" if synced is not None and synced.status == commands.STEP_DONE
        else "all steps done")
    log_.finish(ctx.clock.now(), commands.FAILED if failures else commands.DONE, message)
    if failures:
        notify.notify(f"RegimeDesk: {act.value} #{command_id} failed", f"{act.value} by {actor}: {message}", "failure")
    audit_outcome(ctx, actor, act, command_id, "failed" if failures else "ok", message)


def process_pending_commands(ctx: ControlContext, on_shutdown: Callable[[], None] | None = None,
                             stuck_after_s: float = 120.0) -> int:
    """The engine's command job: claim and run pending control commands; return how many ran.

    A command the web already ran (because the engine was down) is no longer pending, so it is
    never run twice. After a shutdown command, `on_shutdown` lets the engine process exit.
    """
    now = ctx.clock.now()
    commands.abandon_stuck(ctx.store, now, KINDS, stuck_after_s)
    with ctx.store.read() as s:
        rows = [(r.id, r.kind, dict(r.args or {}), r.actor) for r in commands.pending(s, KINDS)]
    ran = 0
    executor = commands.process_label() + " (engine)"
    for command_id, kind, args, actor in rows:
        with urgent_writes():
            if not commands.claim(ctx.store, command_id, ctx.clock.now(), executor, fenced=ctx):
                continue
            act = parse_action(kind)
            execute_command(ctx, command_id, act, args, actor)
        ran += 1
        if act is Action.SHUTDOWN and on_shutdown is not None:
            on_shutdown()
            break
    return ran


def on_engine_start(ctx: ControlContext) -> TradingState:
    """At engine start: a shutdown interrupted half-way is finished (SHUTTING_DOWN -> STOPPED), and a shutdown
    left pending for the engine before this one is closed unrun (run now, it would stop this engine at once).
    Every other state is kept as saved: STOPPED stays STOPPED until an operator resumes; a shutdown that began
    HALTED keeps its halt (state.halt_in_force), so leaving it still asks to lift the halt."""
    now = ctx.clock.now()
    with ctx.store.write() as s:
        check_fence(s, ctx)  # fenced: an engine writes only under the lease it holds (engine/lease.py)
        trading_state.ensure_state(s, now)
        commands.close_pending(s, now, Action.SHUTDOWN.value, "not run: the engine it was left for stopped before "
                               "picking it up; this engine started later and keeps the saved trading state")
        snap = trading_state.current(s, lock=True)
        if snap.state is TradingState.SHUTTING_DOWN:
            snap = trading_state.change(s, now, TradingState.STOPPED, "system:startup",
                             "the engine restarted during a shutdown; resume to trade again")
        return snap.state
