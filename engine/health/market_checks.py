"""Health checks for the market source: its exchange and timezone against the workbook, and Alpaca's request budget.

Run by the engine's health job like every other check (engine/health/checks.py engine_checks), so the
Health page and /metrics (regimedesk_health_status / regimedesk_health_value) show them from the
stored results.
"""
from __future__ import annotations

from typing import Any

from engine.health.grades import DEGRADED, HEALTHY, UNHEALTHY, CheckResult
from engine.market.exchange import calendar_for_settings, timezone_warning
from engine.params.typed import Parameters
from engine.params.versions import active_params
from engine.protocols import StoreContext


def _workbook_timezone(ctx: StoreContext) -> str | None:
    try:
        with ctx.store.read() as session:
            return Parameters(active_params(session)).master_configuration.market_timezone
    except Exception:  # noqa: BLE001 - no active parameter version yet
        return None


def check_market_time(ctx: StoreContext) -> CheckResult:
    """The source's exchange and timezone; degraded when the workbook's market_timezone disagrees."""
    workbook_tz = _workbook_timezone(ctx)
    calendar = calendar_for_settings(getattr(ctx, "settings", None), workbook_tz)
    warning = timezone_warning(calendar, workbook_tz)
    if warning:
        return CheckResult("market time", DEGRADED, warning)
    return CheckResult("market time", HEALTHY,
                       f"{calendar.label} ({calendar.decided_by}); trading day {calendar.trading_day(ctx.clock.now())}")


def rate_budget_of(ctx: StoreContext) -> dict[str, Any] | None:
    """The Alpaca request budget in use (broker and source share one limiter per key); None without Alpaca."""
    for holder in (getattr(ctx, "broker", None), getattr(ctx, "source", None)):
        budget = getattr(holder, "rate_budget", None)
        if callable(budget):
            snap = budget()
            if snap:
                return dict(snap)
    return None


def check_alpaca_budget(ctx: StoreContext) -> list[CheckResult]:
    """Requests in the last minute against the configured limit; degraded past 80% or after a 429."""
    snap = rate_budget_of(ctx)
    if snap is None:
        return []
    limit = float(snap["limit_per_minute"])
    used = int(snap["used_last_minute"])
    share = used / limit * 100 if limit else 0.0
    status = HEALTHY
    if share >= 80 or snap["http_429"] or snap["refused"]:
        status = DEGRADED
    if float(snap["blocked_for_s"]) > 30:
        status = UNHEALTHY
    server = (f"; Alpaca reports {snap['server_remaining']} of {snap['server_limit']} left"
              if snap.get("server_limit") is not None else "")
    detail = (f"{used} of {limit:g} requests in the last minute ({share:.0f}%); {snap['throttled']} waited, "
              f"{snap['refused']} not sent, {snap['http_429']} answered 429"
              + (f"; held {snap['blocked_for_s']:.0f} s by Alpaca" if snap["blocked_for_s"] else "") + server)
    return [CheckResult("alpaca request budget", status, detail, float(used))]


def market_checks(ctx: StoreContext) -> list[CheckResult]:
    return [check_market_time(ctx), *check_alpaca_budget(ctx)]
