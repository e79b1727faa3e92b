"""The vocabulary of trade controls: actions, their roles and target states, the result type.

Kept apart from engine.trading.control (which performs them) so the UI, the CLI and the steps
can share it without importing the machinery; control re-exports every name.
"""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from engine.auth.roles import at_least
from engine.clock import Clock
from engine.protocols import ControlContext as ControlContext  # re-exported
from engine.store.db import Store
from engine.trading import commands
from engine.trading.brokers.base import Broker
from engine.trading.commands import StepResult
from engine.trading.state import TradingState


class Action(StrEnum):
    HALT = "halt"  # the kill switch: HALTED, cancel every open order, optionally flatten
    PAUSE = "pause"  # REDUCING: no new exposure, cancel open orders that would add exposure
    RESUME = "resume"  # ACTIVE again; operators only
    FLATTEN = "flatten"  # close every position (the one kind of order allowed while HALTED)
    SHUTDOWN = "shutdown"  # graceful shutdown of trading; the engine process exits after it
    CANCEL_ORDER = "cancel_order"


ALIASES = {"kill_switch": Action.HALT, "kill": Action.HALT, "stop": Action.SHUTDOWN}
KINDS = frozenset(a.value for a in Action)

# Who may do what (engine.auth.roles): a viewer may press the kill switch without flatten, because
# stopping must never wait for a login with more rights; every other action is a trader's.
REQUIRED_ROLE: dict[Action, str] = {
    Action.HALT: "viewer",  # with flatten: trader (see needed_role)
    Action.PAUSE: "trader",
    Action.RESUME: "trader",
    Action.FLATTEN: "trader",
    Action.SHUTDOWN: "trader",
    Action.CANCEL_ORDER: "trader",
}

# The state each action commits before any broker work (None: no state change).
TARGET_STATE: dict[Action, TradingState | None] = {
    Action.HALT: TradingState.HALTED,
    Action.PAUSE: TradingState.REDUCING,
    Action.RESUME: TradingState.ACTIVE,
    Action.FLATTEN: None,
    Action.SHUTDOWN: TradingState.SHUTTING_DOWN,
    Action.CANCEL_ORDER: None,
}


def required_role(action: str | Action, flatten: bool = False) -> str:
    act = parse_action(action)
    return "trader" if flatten and act is Action.HALT else REQUIRED_ROLE[act]


def allowed(action: str | Action, roles: Collection[str], flatten: bool = False) -> bool:
    """True when one of `roles` ranks at least as high as the action's required role."""
    need = required_role(action, flatten)
    return any(at_least(r, need) for r in roles)


class ControlError(Exception):
    """A control action was refused or one of its steps failed; the message says what to do."""


@dataclass(frozen=True)
class SimpleControlContext:
    """For callers that have a store and a broker but no EngineContext (tests, benchmarks)."""

    store: Store
    clock: Clock
    broker: Broker
    engine_id: str = ""
    settings: Any = None


@dataclass(frozen=True)
class ControlResult:
    command_id: int | None
    action: str
    actor: str
    status: str  # pending | running | done | failed | refused
    state: TradingState | None
    message: str
    steps: tuple[StepResult, ...] = field(default_factory=tuple)
    executor: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (commands.DONE, commands.PENDING, commands.RUNNING)

    @property
    def finished(self) -> bool:
        return self.status in (commands.DONE, commands.FAILED, "refused")

    def __str__(self) -> str:
        steps = ", ".join(f"{s.name}={s.status}" for s in self.steps)
        return (f"{self.action} #{self.command_id} by {self.actor}: {self.status} (state {self.state}; {steps})"
                + (f": {self.message}" if self.message and self.status != commands.DONE else ""))


def parse_action(action: str | Action) -> Action:
    if isinstance(action, Action):
        return action
    key = str(action).strip().lower().replace("-", "_")
    if key in ALIASES:
        return ALIASES[key]
    try:
        return Action(key)
    except ValueError:
        raise ControlError(f"unknown control action {action!r}; use one of: {', '.join(sorted(KINDS))}") from None


def step_names(action: Action, args: dict[str, Any]) -> list[str]:
    """The steps an action runs, in order (shown as a checklist in the UI before they start)."""
    if action is Action.HALT:
        return ["halt", "cancel_orders"] + (["flatten"] if args.get("flatten") else []) + ["sync_broker"]
    if action is Action.PAUSE:
        return ["pause", "cancel_entry_orders"]
    if action is Action.RESUME:
        return ["resume"]
    if action is Action.FLATTEN:
        return ["cancel_orders", "flatten"]  # resting orders first, or "reduces" cannot be judged
    if action is Action.CANCEL_ORDER:
        return ["cancel_order"]
    return ["stop_signals", "cancel_orders", "close_positions", "sync_broker", "disconnect_broker", "save_state",
            "flush_logs", "stopped"]
