"""What a trader sees when a callback fails: one alert saying what went wrong; nothing else changes.

Dash calls `on_callback_error` (the app's on_error) when a callback raises; returning None leaves
every output of that callback as it was, so a hostile or broken input never half-updates a page.
"""
from __future__ import annotations

import logging

import dash_bootstrap_components as dbc
from dash import set_props

log = logging.getLogger(__name__)
ALERT_ID = "app-callback-error"


def callback_error_alert() -> dbc.Alert:
    return dbc.Alert(id=ALERT_ID, is_open=False, color="danger", dismissable=True, className="py-1 mb-2")


def on_callback_error(exc: Exception) -> None:
    log.exception("callback failed: %s", exc)
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    set_props(ALERT_ID, {"children": f"That did not work, and nothing was changed: {detail}", "is_open": True})
