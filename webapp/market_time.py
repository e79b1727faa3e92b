"""Market time on the pages: the warning when the workbook's timezone disagrees with the source's exchange,
and the label saying which clock a page's times are in."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dash_bootstrap_components as dbc
from dash import html

from engine.market.exchange import settings_calendar_and_warning
from engine.params.versions import active_params
from webapp.context import get_context

if TYPE_CHECKING:
    from engine.context import EngineContext

WALL_CLOCK = "operator actions: wall-clock time (UTC)"


def timezone_warning_text(ctx: EngineContext | None = None) -> str | None:
    """The warning sentence, or None when the workbook and the market source agree (or nothing is known yet)."""
    ctx = ctx or get_context()
    try:
        with ctx.store.read() as session:
            params = active_params(session)
    except Exception:  # noqa: BLE001 - the page must render even when the store is down
        return None
    return settings_calendar_and_warning(ctx.settings, params)[1]


def timezone_alert(component_id: str, ctx: EngineContext | None = None) -> Any:
    """A warning alert for the Health and Parameters pages; an empty Div when the timezones agree."""
    text = timezone_warning_text(ctx)
    if text is None:
        return html.Div(id=component_id)
    return dbc.Alert([html.Strong("Market timezone: "), text], id=component_id, color="warning", className="small")


def market_clock_label(ctx: EngineContext | None = None) -> str:
    """Which clock the market-event times on a page are in (bars, orders, fills, account, regime)."""
    ctx = ctx or get_context()
    try:
        with ctx.store.read() as session:
            calendar = settings_calendar_and_warning(ctx.settings, active_params(session))[0]
    except Exception:  # noqa: BLE001
        return "times in UTC"
    return f"times in UTC; the market's exchange: {calendar.label}"


def clock_note(ctx: EngineContext | None = None) -> str:
    """One line, on every page, saying which clock each kind of time shown is in (all shown in UTC)."""
    ctx = ctx or get_context()
    settings = ctx.settings
    source = str(getattr(settings.market_source, "value", settings.market_source))
    if source == "alpaca":
        return ("Times in UTC, all wall-clock: Alpaca's market runs in real time (XNYS, America/New_York), so bars, "
                "orders, fills, account and regime snapshots and operator actions share one clock.")
    if source == "simulated":
        pace = settings.sim_minutes_per_tick * 60.0 / settings.tick_seconds
        return (f"Times in UTC. Market events (bars, option chains, regime, orders, fills, positions, account "
                f"snapshots): simulated market time (x{pace:g}: {settings.sim_minutes_per_tick} simulated "
                f"minute(s) per {settings.tick_seconds:g} s tick), so a fill lies in the bar it filled on; "
                "operator actions (audit): wall-clock time, as are commands and health.")
    return ("Times in UTC. Market events (bars, regime, orders, fills, positions, account snapshots): the replayed "
            "files' own time; operator actions (audit): wall-clock time, as are commands and health.")
