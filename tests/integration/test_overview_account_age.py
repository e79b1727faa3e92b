"""The Overview's equity card says which clock its age is in: account snapshots carry market time, and an
accelerated simulated market's minute passes in a wall second, next to the heartbeat's wall-clock age."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from engine.store.models import AccountSnapshot
from tests import web_requests as wr
from tests.auth_helpers import login_client


def test_the_equity_age_names_the_market_clock(test_settings, any_db_url) -> None:  # type: ignore[no-untyped-def]
    from app import create_app
    from webapp.context import get_context
    from webapp.queries import market_now

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=0), start_engine=False)
    client = login_client(app, "viewer")
    with app.server.test_request_context("/"):
        store, now = get_context().store, market_now()
    with store.write() as s:
        s.add(AccountSnapshot(ts=now - timedelta(minutes=3), broker="paper", cash=Decimal(1000), equity=Decimal(1250),
                              buying_power=Decimal(1000), gross_exposure=Decimal(250)))
    dep = wr.find(wr.dependencies(client), "overview-equity-sub.children")
    got = wr.call(client, dep, {"overview-interval.n_intervals": 1}, trigger="overview-interval.n_intervals").get_json()
    sub = got["response"]["overview-equity-sub"]["children"]
    assert sub.startswith("paper · as of 3") and sub.endswith("ago (market clock)"), sub
