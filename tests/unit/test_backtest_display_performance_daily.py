"""Performance page daily P&L counts the first day in range, like the Backtest page: against the last snapshot
before the range (whatever the gap), else against the range's first snapshot; so the days add up to the range's
P&L and a one-day range has its bar. Expectations are the snapshots' equities subtracted by hand."""
from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from engine.store.migrate import open_store
from engine.store.models import AccountSnapshot
from webapp.performance_data import daily_pnl, day_bounds

SNAPSHOTS = [  # (time, equity): a month's gap before Jan 20
    (datetime(2025, 12, 15, 15, tzinfo=UTC), 900.0), (datetime(2025, 12, 15, 21, tzinfo=UTC), 950.0),
    (datetime(2026, 1, 20, 15, tzinfo=UTC), 1000.0), (datetime(2026, 1, 20, 21, tzinfo=UTC), 1020.0),
    (datetime(2026, 1, 21, 15, tzinfo=UTC), 1015.0), (datetime(2026, 1, 21, 21, tzinfo=UTC), 1005.0),
]


@pytest.fixture
def session(any_db_url: str) -> Any:
    store = open_store(any_db_url, migrate=True)
    with store.write() as s:
        s.add_all(AccountSnapshot(ts=ts, broker="paper", cash=Decimal("0"), equity=Decimal(str(eq)),
                                  buying_power=Decimal("0"), gross_exposure=Decimal("0")) for ts, eq in SNAPSHOTS)
    with store.read() as s:
        yield s
    store.dispose()


def _pnl(session: Any, first: date | None, last: date | None) -> list[tuple[str, float]]:
    frame = daily_pnl(session, *day_bounds(first, last))
    return list(zip(frame["day"], frame["pnl"].round(6), strict=True))


def test_one_day_range_counts_against_the_last_snapshot_before_it(session: Any) -> None:
    # 1020 (last of Jan 20) - 950 (last snapshot before, a month earlier)
    assert _pnl(session, date(2026, 1, 20), date(2026, 1, 20)) == [("2026-01-20", 70.0)]


def test_range_days_add_up(session: Any) -> None:
    assert _pnl(session, date(2026, 1, 20), date(2026, 1, 21)) == [("2026-01-20", 70.0), ("2026-01-21", -15.0)]
    assert _pnl(session, date(2026, 1, 21), None) == [("2026-01-21", -15.0)]  # 1005 - 1020


def test_whole_history_starts_from_the_first_snapshot(session: Any) -> None:
    # 950 - 900, 1020 - 950, 1005 - 1020: sums to 1005 - 900
    assert _pnl(session, None, None) == [("2025-12-15", 50.0), ("2026-01-20", 70.0), ("2026-01-21", -15.0)]


def test_nothing_before_the_range_counts_from_its_first_snapshot(session: Any) -> None:
    assert _pnl(session, date(2025, 12, 1), date(2025, 12, 31)) == [("2025-12-15", 50.0)]  # 950 - 900


def test_an_empty_range_has_no_day(session: Any) -> None:
    frame = daily_pnl(session, *day_bounds(date(2026, 2, 1), date(2026, 2, 2)))
    assert list(frame.columns) == ["day", "pnl"] and frame.empty
