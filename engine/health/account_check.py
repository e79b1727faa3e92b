"""The broker account's flags on the Health page: blocked or inactive (no order goes through), pattern-day-trader
protection close (a same-day exit may be refused), shorting off. Read from what the sync stored: no broker call."""
from __future__ import annotations

from engine.context import EngineContext
from engine.health.grades import DEGRADED, HEALTHY, UNHEALTHY, CheckResult
from engine.trading.account_flags import blocked_reason, pdt_warning, read_account_flags


def check_broker_account(ctx: EngineContext) -> CheckResult:
    with ctx.store.read() as session:
        flags = read_account_flags(session)
    if flags is None:
        return CheckResult("broker account", HEALTHY, f"{ctx.broker.name}: no account restrictions reported")
    count = float(flags.daytrade_count)
    if (blocked := blocked_reason(flags)) is not None:
        return CheckResult("broker account", UNHEALTHY, f"{ctx.broker.name}: {blocked}", count)
    notes = [f"status {flags.status}", f"{flags.daytrade_count} day trade(s) in 5 days",
             "shorting enabled" if flags.shorting_enabled else "shorting disabled: sells beyond the shares held are refused"]
    if (warning := pdt_warning(flags)) is not None:
        return CheckResult("broker account", DEGRADED, f"{ctx.broker.name}: {warning}; {', '.join(notes)}", count)
    return CheckResult("broker account", HEALTHY, f"{ctx.broker.name}: {', '.join(notes)}", count)
