"""Leaving a halt by Pause or Resume: when it must be confirmed, and which halt the confirmation was for.

control.perform calls `check_lift` under the state lock. A halt is trading HALTED, or the STOPPED of a graceful
shutdown that began HALTED (engine/trading/state.py, halt_in_force): a restart must never turn a halt into a
STOPPED that one Resume click lifts. The web's "Lift the halt?" dialog carries the halt's token, so its confirm
is refused when the halt changed meanwhile (lifted, then another halt set) instead of lifting one nobody saw.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from engine.trading import commands
from engine.trading import state as trading_state
from engine.trading.control_types import Action
from engine.trading.state import HaltInfo, TradingState

# What leaving HALTED means, in the words the confirm dialog and the refusal use.
LIFT_HALT_WORDS: dict[Action, str] = {
    Action.PAUSE: "Trading is HALTED. Pause entries lifts the halt: the engine may send exits again.",
    Action.RESUME: "Trading is HALTED. Resume lifts the halt: the engine trades again.",
}
KEPT_HALT_WORDS = ("Trading is STOPPED, and the halt set before the shutdown still stands. Resume lifts the halt: "
                   "the engine trades again.")


class HaltNotLiftedError(Exception):
    """Pause or resume found a halt in force, but the caller had not confirmed lifting it (or confirmed another
    halt), or the halt's own steps (or a flatten) are still running."""


def lift_words(act: Action, halt: HaltInfo) -> str:
    """What the dialog says leaving this halt by `act` does (the halt's own reason is shown beside it)."""
    return LIFT_HALT_WORDS[act] if halt.state is TradingState.HALTED else KEPT_HALT_WORDS


def halt_to_lift(session: Session, act: Action, frm: TradingState) -> HaltInfo | None:
    """The halt a pause or resume from `frm` would lift (None: none, or the move is illegal and refused anyway)."""
    target = {Action.PAUSE: TradingState.REDUCING, Action.RESUME: TradingState.ACTIVE}.get(act)
    if target is None or target not in trading_state.ALLOWED[frm]:
        return None
    halt = trading_state.halt_in_force(session)
    return halt if halt is not None and halt.state is frm else None


def check_lift(session: Session, now: datetime, act: Action, frm: TradingState, lift_halt: bool | str) -> HaltInfo | None:
    """Raise HaltNotLiftedError when this pause or resume may not lift the halt in force; else the halt it lifts.

    lift_halt: False refuses; True lifts whatever halt is in force (the CLI); a token lifts only that halt."""
    halt = halt_to_lift(session, act, frm)
    if halt is None:
        return None
    if lift_halt is False:
        confirm = "Leaving HALTED" if halt.state is TradingState.HALTED else "Lifting the halt"
        raise HaltNotLiftedError(f"{act.value} refused, nothing changed: {lift_words(act, halt)} {confirm} must be "
                                 "confirmed: press the button again and confirm in the dialog")
    if lift_halt is not True and lift_halt != halt.token:
        raise HaltNotLiftedError(
            f"{act.value} refused, nothing changed: the halt changed since the dialog opened; trading is now "
            f"{halt.state} under the halt {halt.describe()}. Press the button again to see it and confirm")
    busy = commands.lift_blocker(session, now)
    if busy is not None:
        raise HaltNotLiftedError(
            f"{act.value} refused, nothing changed: the {busy.kind} #{busy.id} by {busy.actor} is still "
            f"{busy.status} (cancelling or closing positions); trading stays {frm}. Wait until its steps "
            "finish on the Trading page, then lift the halt")
    return halt
