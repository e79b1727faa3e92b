"""The Performance page says which days its date picker offers (the picker silently ignores a typed day outside)."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from engine.store.models import AccountSnapshot
from tests import web_requests as wr
from tests.auth_helpers import login_client


def test_the_range_hint_names_the_history(test_settings, any_db_url) -> None:  # type: ignore[no-untyped-def]
    from app import create_app
    from webapp.context import get_context

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=0), start_engine=False)
    client = login_client(app, "viewer")
    with app.server.app_context():
        store = get_context().store
    with store.write() as s:
        for ts, equity in ((datetime(2025, 3, 3, 15, tzinfo=UTC), 100_000), (datetime(2025, 4, 30, 20, tzinfo=UTC), 101_000)):
            s.add(AccountSnapshot(ts=ts, broker="paper", cash=Decimal(equity), equity=Decimal(equity),
                                  buying_power=Decimal(equity), gross_exposure=Decimal(0)))
    dep = wr.find(wr.dependencies(client), "performance-range-hint.children")
    response = wr.call(client, dep, {"performance-interval.n_intervals": 1}, trigger="performance-interval.n_intervals")
    assert response.status_code == 200
    got = response.get_json()["response"]
    assert got["performance-range-hint"]["children"] == "history 2025-03-03 → 2025-04-30: days outside it cannot be chosen"
    assert got["performance-range"] == {"min_date_allowed": "2025-03-03", "max_date_allowed": "2025-04-30"}
