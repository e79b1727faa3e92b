"""Health page: a sparkline per check that grows with each stored health run, and the engines table
showing a killed engine (an "active" row with an old heartbeat) as dead, the running one as live."""
from __future__ import annotations

import time
from datetime import timedelta

from selenium.common.exceptions import StaleElementReferenceException

from tests.auth_helpers import browser_login


def _spark_length(dash_duo, name: str) -> int:  # type: ignore[no-untyped-def]
    """Points in a check's sparkline: one block character each (runs of one status share a span); 0 when the
    page's 2 s refresh replaced the element between finding and reading it (the caller's loop asks again)."""
    sparks = dash_duo.driver.find_elements("css selector", f'[id*="health-spark"][id*="{name}"]')
    try:
        return len(sparks[0].text.strip()) if sparks else 0
    except StaleElementReferenceException:
        return 0


def test_hlt001_sparklines_grow_and_a_killed_engine_shows_dead(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    from app import ENGINE_KEY
    from engine.store.models import EngineHeartbeat
    from webapp.context import EXTENSION_KEY

    app = embedded_app()
    ctx = app.server.extensions[EXTENSION_KEY]
    now = ctx.clock.now()
    with ctx.store.write() as session:  # what a SIGKILLed engine leaves behind: "active", beat 12 minutes ago
        session.add(EngineHeartbeat(engine_id="killed-engine", host="h", pid=1, started_at=now - timedelta(hours=1),
                                    last_beat=now - timedelta(minutes=12), status="active"))
    browser_login(dash_duo, app, path="/health")
    dash_duo.wait_for_element("#health-jobs", timeout=15)
    deadline = time.time() + 40
    while _spark_length(dash_duo, "database") < 2:  # two health runs stored (every 10 s)
        assert time.time() < deadline, "the database sparkline did not grow to two points"
        time.sleep(0.5)
    while _spark_length(dash_duo, "broker latency") < 2:  # the same health runs: asked again if the refresh raced
        assert time.time() < deadline, "the broker latency sparkline did not grow to two points"
        time.sleep(0.5)
    # the table re-renders on every refresh: wait_for_text_to_equal finds the cell again on each try (an element
    # found once goes stale when the refresh replaces it: CI under load)
    dash_duo.wait_for_text_to_equal('[id*="health-engine-liveness"][id*="killed-engine"]', "dead", timeout=10)
    engine_id = app.server.extensions[ENGINE_KEY].ctx.engine_id
    dash_duo.wait_for_text_to_equal(f'[id*="health-engine-liveness"][id*="{engine_id}"]', "live", timeout=10)
    assert [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"] == []
