"""What a trader sees when a callback fails: one alert saying what went wrong; nothing else changes.

Dash calls `on_callback_error` (the app's on_error) when a callback raises; returning None leaves
every output of that callback as it was, so a hostile or broken input never half-updates a page.
Domain errors (ValueError subclasses with a trader-readable message) are shown as they are; a type
error from a forged or stale value names the input that carried it.
"""
from __future__ import annotations

import logging

import dash_bootstrap_components as dbc
from dash import callback_context, set_props

log = logging.getLogger(__name__)
ALERT_ID = "app-callback-error"
MALFORMED = (TypeError, AttributeError, KeyError, IndexError)


def callback_error_alert() -> dbc.Alert:
    return dbc.Alert(id=ALERT_ID, is_open=False, color="danger", dismissable=True, className="py-1 mb-2")


def _where() -> str:
    try:
        triggered = [t.get("prop_id", "") for t in callback_context.triggered or []]
    except Exception:  # noqa: BLE001 - outside a callback there is nothing to name
        triggered = []
    names = [t for t in triggered if t and t != "."]
    return names[0][:80] if names else "this page"


def describe(exc: Exception) -> str:
    if isinstance(exc, MALFORMED):
        return (f"{_where()} sent a value this control cannot use ({type(exc).__name__}); nothing was changed. "
                "Reload the page if this keeps happening")
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    return f"That did not work, and nothing was changed: {text}"


def on_callback_error(exc: Exception) -> None:
    log.warning("callback refused input at %s: %s: %s", _where(), type(exc).__name__, exc,
                exc_info=not isinstance(exc, (*MALFORMED, ValueError)))
    set_props(ALERT_ID, {"children": describe(exc), "is_open": True})
