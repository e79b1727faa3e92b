"""The notifications health check (engine/health/notify_check.py) against real HTTP receivers on 127.0.0.1:
a target that stopped taking messages, or a notifier that could not be set up, shows on the Health page instead
of only in the engine's log."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from engine import notify
from engine.clock import ManualClock
from engine.health.checks import run_all
from engine.health.notify_check import check_notifications
from engine.runtime import build_context
from engine.settings import load_settings
from tests.notify_receiver import Receiver

WAIT_S = 15.0  # every flush below is bounded by this


def _notifier(urls: list[str]) -> notify.Notifier:
    return notify.Notifier(urls, attempts=2, backoff_s=(0.05,))


def _send(notifier: notify.Notifier, title: str) -> None:
    notifier.send(title, "body", "warning")
    assert notifier.flush(WAIT_S)


@pytest.fixture
def stopped() -> Iterator[list[notify.Notifier]]:
    made: list[notify.Notifier] = []
    yield made
    for notifier in made:
        notifier.stop(flush_s=0.0)


def test_no_target_is_said_and_healthy() -> None:
    check = check_notifications(_notifier([]))
    assert (check.status, check.detail) == ("healthy", "off: no targets configured (REGIMEDESK_NOTIFY_URLS)")


def test_one_failing_target_of_two_is_degraded_and_named(stopped: list[notify.Notifier]) -> None:
    with Receiver() as good, Receiver(statuses=[500] * 10) as bad:
        notifier = _notifier([good.url(), bad.url()])
        stopped.append(notifier)
        _send(notifier, "RegimeDesk: broker unhealthy")
        check = check_notifications(notifier)
    assert check.status == "degraded", check
    assert f":{bad.port}" in check.detail and f":{good.port}" not in check.detail
    assert "1 of 2 target(s)" in check.detail and "1 delivered, 1 failed" in check.detail
    assert check.value == 1.0
    assert len(bad.requests) == 2  # both attempts were made (and answered 500)


def test_every_target_failing_is_unhealthy_until_one_takes_a_message_again(stopped: list[notify.Notifier]) -> None:
    with Receiver(statuses=[500, 500]) as flaky:
        notifier = _notifier([flaky.url()])
        stopped.append(notifier)
        _send(notifier, "first")  # both attempts answered 500: given up
        assert check_notifications(notifier).status == "unhealthy"
        _send(notifier, "second")  # the receiver is back (200)
        check = check_notifications(notifier)
    assert check.status == "healthy", check
    assert check.detail == ("1 target(s); 1 delivered, 1 failed, 0 unconfirmed, 0 dropped since the engine started")


def test_targets_that_could_not_be_set_up_are_unhealthy(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise ValueError("bad target")

    monkeypatch.setattr(notify, "TargetWorker", refuse)
    notifier = notify._build(["json://127.0.0.1:9/hook"])
    check = check_notifications(notifier)
    assert check.status == "unhealthy" and check.detail.startswith("OFF: the notification targets could not be set "
                                                                    "up (ValueError); nothing is sent")
    assert "127.0.0.1:9" not in check.detail


def test_the_engine_health_run_carries_the_check(any_db_url: str, stopped: list[notify.Notifier]) -> None:
    with Receiver(statuses=[500] * 10) as bad:
        notifier = notify.configure([bad.url()], attempts=1)
        stopped.append(notifier)
        _send(notifier, "RegimeDesk: HALT")
        ctx = build_context(load_settings(database_url=any_db_url), with_source=False, migrate=True,
                            clock=ManualClock(datetime(2026, 3, 2, 15, 0, tzinfo=UTC)))
        try:
            report = run_all(ctx)
        finally:
            ctx.store.dispose()
            notify.configure([])
    found = [c for c in report["checks"] if c["name"] == "notifications"]
    assert len(found) == 1 and found[0]["status"] == "unhealthy", found
    assert report["status"] == "unhealthy"
