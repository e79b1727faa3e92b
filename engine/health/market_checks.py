"""Health checks for the market source: its exchange and timezone against the workbook, Alpaca's request budget,
and this engine's clock against the database's (the time every order, fill and audit row is stamped with).

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
from engine.store.db_clock import SKEW_WARN_S

SKEW_UNHEALTHY_S = 30.0  # a clock this far off misorders the engine's rows against the web's and the broker's


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


def check_clock(ctx: StoreContext) -> list[CheckResult]:
    """The engine's clock against the database server's, as measured at its last lease beat (engine/lease.py).

    The lease and liveness already use the database's clock, so skew cannot cause a takeover; but orders, fills,
    job runs and audit rows are stamped with this machine's clock, so past SKEW_WARN_S their order against other
    machines' rows is off (degraded), past SKEW_UNHEALTHY_S badly (unhealthy). No check outside an engine or
    before its first beat."""
    fence = getattr(ctx, "fence", None)
    skew = getattr(getattr(fence, "skew", None), "skew_s", None)
    if skew is None:
        return []
    status = UNHEALTHY if abs(skew) > SKEW_UNHEALTHY_S else DEGRADED if abs(skew) > SKEW_WARN_S else HEALTHY
    side = "ahead of" if skew > 0 else "behind"
    detail = f"this engine's clock is {abs(skew):.2f} s {side} the database's"
    if status != HEALTHY:
        detail += (f" (more than {SKEW_WARN_S:g} s): order, fill and audit times are off by as much; fix the "
                   "machine's time sync (chrony/ntpd)")
    return [CheckResult("clock", status, detail, float(skew))]


def market_checks(ctx: StoreContext) -> list[CheckResult]:
    return [check_market_time(ctx), *check_alpaca_budget(ctx), *check_clock(ctx)]
