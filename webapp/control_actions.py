"""The web's way to run a trade control: who the actor is, and one call to control.perform.

The banner and the Trading page both come here, so a button does exactly what the CLI does.
"""
from __future__ import annotations

from components.cards import state_label
from engine.auth import principal
from engine.trading import control
from webapp import trading_queries
from webapp.context import get_context

# How long a callback waits for a live engine to pick a command up before doing it itself.
HANDOFF_S = 1.0
# How long it then waits for the command to finish, so the message shows the final state (STOPPED, not
# SHUTTING_DOWN); a slower command is still shown live on the Trading page.
RESULT_WAIT_S = 8.0


def web_actor() -> str:
    """The logged-in user as the audit trail names them ("web:<name>"); the guard set the principal."""
    who = principal.current()
    return who.actor if who.name else "web:anonymous"


def web_roles() -> set[str]:
    """The logged-in user's role, passed to control.perform so it re-checks what the guard allowed."""
    role = principal.current().role
    return {role} if role else set()


def run_control(action: str, reason: str = "", flatten: bool = False, order_id: int | str | None = None
                ) -> control.ControlResult:
    result = control.perform(get_context(), web_actor(), action, reason=reason, flatten=flatten, order_id=order_id,
                             handoff_s=HANDOFF_S, roles=web_roles(), wait_s=RESULT_WAIT_S)
    trading_queries.forget()
    return result


def describe(result: control.ControlResult) -> tuple[str, str]:
    """A one-line message and a Bootstrap colour for an action's outcome."""
    if result.status == "refused":
        return result.message, "danger"
    if result.status == "failed":
        return f"{result.action} finished with errors: {result.message}", "danger"
    state = f" Trading is now {state_label(result.state)}." if result.state else ""
    if result.status == "done":
        extra = result.message.removeprefix("all steps done").lstrip("; ")  # e.g. the final sync's summary
        return f"{result.action} done.{state}" + (f" {extra}." if extra else ""), "success"
    so_far = f" Trading is {state_label(result.state)} so far." if result.state else ""
    return f"{result.action} accepted ({result.status}); its steps update live on the Trading page.{so_far}", "info"
