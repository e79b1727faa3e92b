"""Health grading of the risk limits: how much of the daily-loss and drawdown-from-peak limits is used."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from engine.clock import ManualClock
from engine.health.checks import check_risk_limits
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import AccountSnapshot
from engine.trading.equity import update_marks


@pytest.mark.parametrize(("equity", "expected"), [("100000", "healthy"), ("94000", "degraded"), ("89000", "unhealthy")])
def test_drawdown_from_peak_is_graded_against_its_limit(any_db_url: str, equity: str, expected: str) -> None:
    ctx = build_context(load_settings(database_url=any_db_url), with_source=False, migrate=True,
                        clock=ManualClock(datetime(2026, 3, 2, 15, 0, tzinfo=UTC)))
    now = ctx.clock.now()
    with ctx.store.write() as session:
        update_marks(session, now, Decimal("80000"))  # start of day ...
        update_marks(session, now, Decimal("100000"))  # ... then a new peak: drawdown is measured from here
        session.add(AccountSnapshot(ts=now, broker="paper", cash=Decimal(equity), equity=Decimal(equity),
                                    buying_power=Decimal(equity), gross_exposure=Decimal(0)))
    checks = {c.name: c for c in check_risk_limits(ctx)}
    drawdown = checks["risk: drawdown from peak"]
    assert drawdown.status == expected, drawdown
    assert drawdown.value == pytest.approx((100000 - float(equity)) / 1000)
    assert checks["risk: daily loss"].status == "healthy"  # still above the start-of-day equity
