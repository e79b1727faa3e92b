"""What a trader sees when a callback fails: one alert saying what went wrong; nothing else changes.

Dash calls `on_callback_error` (the app's on_error) when a callback raises; returning None leaves
every output of that callback as it was, so a hostile or broken input never half-updates a page.
Messages written for a trader are shown as they are: a project-defined error, or one the project's code raised
itself (`raise ValueError("...")` in a project file). An error Python or a library raised on the way (int() of a
forged text, a Decimal overflow, a missing key) has no such message: the alert then says a value could not be used,
naming the control that ran the callback (it started the request, though the value may have come from another).
"""
from __future__ import annotations

import json
import logging
import traceback
from pathlib import Path

import dash_bootstrap_components as dbc
from dash import callback_context, set_props
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from engine.settings import PROJECT_ROOT
from webapp.auth.sessions import StoreUnreachable
from webapp.readiness import TooSlow

log = logging.getLogger(__name__)
ALERT_ID = "app-callback-error"
MALFORMED = (TypeError, AttributeError, KeyError, IndexError)
PROJECT_PACKAGES = ("engine", "webapp", "components", "pages")
SITE = ("site-packages", "dist-packages")


def callback_error_alert() -> dbc.Alert:
    return dbc.Alert(id=ALERT_ID, is_open=False, color="danger", dismissable=True, className="py-1 mb-2")


def _where() -> str:
    """The control that ran the callback, in words: 'trading ticket size' for 'trading-ticket-size.n_clicks'."""
    try:
        triggered = [t.get("prop_id", "") for t in callback_context.triggered or []]
    except Exception:  # noqa: BLE001 - outside a callback there is nothing to name
        triggered = []
    names = [t for t in triggered if t and t != "."]
    return control_name(names[0]) if names else "this page"


def control_name(prop_id: str) -> str:
    """A Dash prop id as words: the component id without its property; a pattern-matching id by its type."""
    component = prop_id.rsplit(".", 1)[0] if "." in prop_id else prop_id
    if component.startswith("{"):
        try:
            parsed = json.loads(component)
        except ValueError:
            parsed = None
        component = str(parsed.get("type", "")) if isinstance(parsed, dict) else ""
    words = component.replace("-", " ").replace("_", " ").strip()
    return words[:60] if words else "this page"


def written_for_a_trader(exc: BaseException) -> bool:
    """Whether the message was written by this project (its own error class, or a `raise` in its own files)."""
    if type(exc).__module__.split(".", 1)[0] in PROJECT_PACKAGES:
        return True
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ is not None else []
    if not frames:
        return False
    last = frames[-1]
    path = Path(last.filename).resolve()
    in_project = path.is_relative_to(PROJECT_ROOT) and not any(part in SITE for part in path.parts)
    return in_project and (last.line or "").lstrip().startswith("raise")


def store_outage(exc: BaseException) -> bool:
    """The store did not answer (connection refused or lost, a bounded read timed out): not the request's fault."""
    return isinstance(exc, (OperationalError, InterfaceError, PoolTimeout, TooSlow, StoreUnreachable))


STORE_OUTAGE_TEXT = "the store (database) is unreachable; nothing was changed. The Health page shows the outage"


def describe(exc: Exception) -> str:
    if store_outage(exc):
        return f"{_where()}: {STORE_OUTAGE_TEXT} ({type(exc).__name__})"
    if isinstance(exc, MALFORMED) or not written_for_a_trader(exc):
        return (f"{_where()}: a value on this page could not be used ({type(exc).__name__}); nothing was changed. "
                "Reload the page if this keeps happening")
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    return f"That did not work, and nothing was changed: {text}"


def on_callback_error(exc: Exception) -> None:
    log.warning("callback refused input at %s: %s: %s", _where(), type(exc).__name__, exc,
                exc_info=not (isinstance(exc, (*MALFORMED, ValueError)) or store_outage(exc)))
    set_props(ALERT_ID, {"children": describe(exc), "is_open": True})
