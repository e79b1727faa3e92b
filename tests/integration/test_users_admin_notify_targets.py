"""Audit 41: notification targets as an operator sets them (REGIMEDESK_NOTIFY_URLS) and reads them back on the
Health page. A URL apprise cannot set up (a mistyped scheme, a missing token, a plain https:// webhook) was shown
healthy ("1 target(s); 0 delivered, 0 failed") and stayed healthy after a HALT page had gone nowhere: the check
now names the target and what is wrong with it, from the start, and never shows its token. The health run's
report is built from the real store (SQLite and PostgreSQL); the valid target is a real HTTP receiver."""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from engine import notify
from engine.clock import ManualClock
from engine.health.checks import run_all
from engine.runtime import build_context
from engine.settings import load_settings
from tests.notify_receiver import Receiver

TOKEN = "xoxb-4815162342-SECRETTOKEN"  # must never show on the page or in the log


def _notifications_check(db_url: str) -> dict[str, Any]:
    ctx = build_context(load_settings(database_url=db_url), with_source=False, migrate=True,
                        clock=ManualClock(datetime(2026, 3, 2, 15, 0, tzinfo=UTC)))
    try:
        report = run_all(ctx)
    finally:
        ctx.store.dispose()
    found = [c for c in report["checks"] if c["name"] == "notifications"]
    assert len(found) == 1, report["checks"]
    return found[0]


@pytest.mark.parametrize(("url", "shown", "says"), [
    (f"slak://{TOKEN}/C0123456", "slak://***", "a mistyped scheme, or a missing or malformed token"),
    (f"https://hooks.example.com/incoming/{TOKEN}", "https://***", "a plain webhook is json://host/path"),
    (f"tgram://{TOKEN}", "tgram://***", "a mistyped scheme, or a missing or malformed token"),
])
def test_a_target_apprise_refuses_is_unhealthy_before_any_page_and_named(any_db_url: str, url: str, shown: str,
                                                                         says: str,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    try:
        notify.configure([url], attempts=1)
        check = _notifications_check(any_db_url)
    finally:
        notify.configure([])
    assert check["status"] == "unhealthy", check
    assert f"{shown} is not a valid apprise URL" in check["detail"] and says in check["detail"], check
    assert "nothing is sent" in check["detail"]
    assert TOKEN not in check["detail"] and TOKEN not in caplog.text


def test_one_refused_target_next_to_a_working_one_is_degraded_and_the_other_still_gets_pages(
        any_db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with Receiver() as good:
        try:
            notifier = notify.configure([good.url(), f"sllack://T000/B000/{TOKEN}"], attempts=1)
            before = _notifications_check(any_db_url)
            notify.notify("RegimeDesk: trading HALTED", "ACTIVE -> HALTED by web:ada: test", "failure")
            assert notifier.flush(15.0)
            received = good.wait_for(1)
            after = _notifications_check(any_db_url)
        finally:
            notify.configure([])
    assert [r["json"]["title"] for r in received] == ["RegimeDesk: trading HALTED"]
    for check in (before, after):
        assert check["status"] == "degraded", check
        assert "sllack://*** (not a valid apprise URL" in check["detail"] and "1 of 2 target(s)" in check["detail"]
        assert TOKEN not in check["detail"]
    assert "1 delivered, 1 failed" in after["detail"], after
    assert TOKEN not in caplog.text
