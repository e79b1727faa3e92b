"""A control command's recorded outcome (the commands row plus the trading state it set, or the current one
for a command that sets none), as the UI, the CLI and the tests read it back while or after the steps run."""
from __future__ import annotations

from engine.store.db import Store
from engine.store.models import CommandRow
from engine.trading import state as trading_state
from engine.trading.commands import StepResult
from engine.trading.control_types import ControlResult
from engine.trading.state import TradingState


def result_of(row: CommandRow, state: TradingState | None = None) -> ControlResult:
    result = row.result or {}
    return ControlResult(
        command_id=row.id, action=row.kind, actor=row.actor, status=row.status, state=state,
        message=str(result.get("message", "")),
        steps=tuple(StepResult.from_dict(s) for s in result.get("steps", [])),
        executor=str(result.get("executor", "")),
    )


def load_result(store: Store, command_id: int) -> ControlResult | None:
    with store.read() as s:
        row = s.get(CommandRow, command_id)
        if row is None:
            return None
        own = (row.result or {}).get("state")  # the state the command itself set, not a later command's
        if own:
            return result_of(row, TradingState(own))
        try:
            st: TradingState | None = trading_state.current(s).state
        except LookupError:
            st = None
        return result_of(row, st)
