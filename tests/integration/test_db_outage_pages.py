"""Audit 23 #3: a database outage paged nobody (the engine only logged it; after it ended, one misleading "job
heartbeat unhealthy" page). Now the engine pages "database unreachable" once the outage has lasted its grace,
naming the store (never its password), once per outage, and "database back" when it ends.

A real embedded engine on PostgreSQL behind a TCP proxy this test runs (the shared server is never stopped), and a
real HTTP receiver for the notifications. SQLite has no outage to play here.
"""
from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from engine import notify
from engine.health.outage import BACK_TITLE, PAGE_TITLE
from tests.notify_receiver import Receiver
from tests.outage_proxy import OutageProxy

PASSWORD = "NotShownAnywhere42"  # the local server trusts 127.0.0.1, so any password connects
GRACE_S = 2.0  # the engine's grace before paging, shortened from 15 s for the test


def _titles(receiver: Receiver) -> list[str]:
    with receiver.lock:
        return [str(r["json"].get("title", "")) for r in receiver.requests]


def _wait(predicate: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return bool(predicate())


@pytest.mark.slow  # a real engine through an outage and back: about 30 s
def test_the_engine_pages_a_database_outage_and_its_end(pg_url):
    from app import ENGINE_KEY, create_app
    from engine.settings import load_settings

    url = make_url(pg_url)
    with Receiver() as receiver, OutageProxy((url.host or "127.0.0.1", url.port or 5432), lifetime_s=150) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port, password=PASSWORD).render_as_string(hide_password=False)
        notify.configure([receiver.url("outage")], rate_max=10, rate_window_s=600)
        app = create_app(load_settings(database_url=proxied, tick_seconds=0.25, warmup_polls=300, deadman_seconds=0,
                                       engine_mode="embedded"), start_engine=True)
        service = app.server.extensions[ENGINE_KEY]
        try:
            outage = service.ctx.store_outage
            assert outage is not None
            outage.page_after_s = GRACE_S
            time.sleep(3.0)  # the engine runs its first jobs on a reachable store
            proxy.refuse()
            assert _wait(lambda: PAGE_TITLE in _titles(receiver), 45), f"no outage page: {_titles(receiver)}"
            time.sleep(4.0)  # the outage goes on: no second page for the same outage
            assert _titles(receiver).count(PAGE_TITLE) == 1, _titles(receiver)
            proxy.restore()
            assert _wait(lambda: BACK_TITLE in _titles(receiver), 60), f"no recovery page: {_titles(receiver)}"
        finally:
            proxy.restore()
            service.shutdown()
        with receiver.lock:
            pages = [r["json"] for r in receiver.requests]
        down = next(p for p in pages if p["title"] == PAGE_TITLE)
        back = next(p for p in pages if p["title"] == BACK_TITLE)
        shown = url.set(host="127.0.0.1", port=proxy.port, password=PASSWORD).render_as_string(hide_password=True)
        assert shown in down["message"] and shown in back["message"], (shown, down, back)  # the store is named
        assert "since" in down["message"] and "is back after" in back["message"]
        assert all(PASSWORD not in str(p) for p in pages)
        assert [t for t in _titles(receiver) if t in (PAGE_TITLE, BACK_TITLE)] == [PAGE_TITLE, BACK_TITLE]
