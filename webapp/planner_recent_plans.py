"""Planner page, Stored plans tab: the last plans the engine and the page stored, redrawn only while the tab is
open and only when one was added or executed (layout: pages/planner.py; ids: webapp/planner_ids.py)."""
from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, no_update

from engine.auth.roles import Role
from engine.planner import plan_store
from webapp import planner_ids as ids
from webapp import planner_preview as pv
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.planner_views import recent_plans_table


def recent_outputs(shown: object, tab: object = "recent") -> tuple[Any, Any]:
    """The last stored plans, only while their tab is open and only when one was added or executed."""
    if tab != "recent":
        return no_update, no_update
    with get_context().store.read() as session:
        plans = plan_store.recent_plans(session, limit=20)
    stamp = pv.digest([(p.created_at, p.executed) for p in plans])
    if stamp == shown:
        return no_update, no_update
    return recent_plans_table(plans), stamp


def register_callbacks() -> None:
    """Called by pages/planner.py each time Dash executes the page for a new app (see planner_callbacks)."""

    @dash.callback(Output(ids.RECENT, "children"), Output(ids.RECENT_PRINT, "data"),
                   Input(ids.INTERVAL, "n_intervals"), Input(ids.TABS, "active_tab"),
                   State(ids.RECENT_PRINT, "data"))
    @requires(Role.VIEWER)
    def show_recent(_n: int | None, tab: str | None, shown: str | None) -> Any:
        return recent_outputs(shown, tab)
