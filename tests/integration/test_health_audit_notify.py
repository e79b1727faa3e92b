"""Notification targets that broke or duplicated things (audit 3):

- a Telegram URL (tgram://<bot id>:<secret>/<chat>, listed in the README) made masked() raise, so the engine's
  health job failed every run, every notification was lost (its traceback logged the token) and create_app
  failed: the web, which runs the dead-man's switch, did not start. Real store (SQLite and PostgreSQL), the
  real health job and create_app; the notifier is stopped before anything could be sent (no network).
- a receiver that acknowledges after the try's read timeout got the same page on every retry, and it was counted
  failed: real HTTP receivers on 127.0.0.1."""
from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from engine import notify
from engine.health.recorder import HealthRecorder
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import HealthResult
from tests.notify_receiver import Receiver

TG_SECRET = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TG_URL = f"tgram://123456789:{TG_SECRET}/987654321"


@pytest.fixture()
def process_notifier() -> Iterator[None]:
    """Restore a disabled process notifier after the test (it is per process)."""
    yield
    notify.configure([])


def _silence() -> None:
    """Stop the process notifier's workers: nothing may leave for the internet (send() then returns False)."""
    notify.current().stop(flush_s=0.0)


def test_a_telegram_target_breaks_neither_the_health_job_nor_the_web(any_db_url: str, process_notifier: None,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    notify.configure([TG_URL])
    _silence()
    assert notify.current().targets() == ["tgram://***"]
    ctx = build_context(load_settings(database_url=any_db_url), with_source=False, migrate=True)
    try:
        HealthRecorder(ctx).run(ctx)  # a fresh store: "engine heartbeat" is unhealthy, so unhealthy_checks runs
        with ctx.store.read() as s:
            assert int(s.scalar(select(func.count()).select_from(HealthResult)) or 0) > 0
        assert notify.notify("RegimeDesk: trading HALTED", "kill switch by alice", "failure") is False  # stopped

        # local import: app pulls in Dash and every page; only this test needs it
        from app import create_app

        settings = load_settings(database_url=any_db_url, deadman_seconds=0, notify_urls=TG_URL)
        app = create_app(settings, start_engine=False)
        _silence()  # create_app configured the web's notifier from REGIMEDESK_NOTIFY_URLS
        assert notify.current().targets() == ["tgram://***"]
        assert app.server.test_client().get("/healthz").status_code < 500
    finally:
        ctx.store.dispose()
    assert TG_SECRET not in caplog.text


def test_a_slow_acknowledgement_is_not_sent_again_and_counts_as_unconfirmed(caplog: pytest.LogCaptureFixture) -> None:
    """The receiver has the message at once but answers after 2 s; a try times out reading after 1 s. Old: 4
    copies, counted failed. Now: one copy, counted unconfirmed (not delivered, not failed), said in the log."""
    caplog.set_level(logging.INFO, logger="engine.notify")
    with Receiver(delay_s=2.0) as rx:
        notifier = notify.Notifier([rx.url("hook")], attempts=4, backoff_s=(0.1,), try_timeout_s=1.0, budget_s=8.0)
        try:
            assert notifier.send("RegimeDesk: regime changed", "trend -> range", "warning")
            assert notifier.flush(10.0)
            time.sleep(2.5)  # a retry sent in the meantime would be recorded by now (2 s after it arrived)
            got = rx.wait_for(2, timeout_s=0.5)
        finally:
            notifier.stop(0.5)
    assert len(got) == 1, [r["json"].get("title") for r in got]
    assert (notifier.unconfirmed, notifier.delivered, notifier.failed) == (1, 0, 0)
    assert "unconfirmed" in caplog.text


def test_a_slow_acknowledgement_of_a_halt_page_is_sent_again_with_the_same_id() -> None:
    """A failure-level page (HALT) is at least once delivered: an unconfirmed try is sent again, every copy
    with the same message_id for the receiver to drop; still counted unconfirmed when no answer ever came."""
    with Receiver(delay_s=2.0) as rx:
        notifier = notify.Notifier([rx.url("hook")], attempts=3, backoff_s=(0.1,), try_timeout_s=1.0, budget_s=8.0)
        try:
            assert notifier.send("RegimeDesk: trading HALTED", "kill switch by alice", "failure")
            assert notifier.flush(12.0)
            got = rx.wait_for(3, timeout_s=4.0)
        finally:
            notifier.stop(0.5)
    assert len(got) == 3, [r["json"].get("title") for r in got]
    assert len({r["json"].get("message_id") for r in got}) == 1
    assert (notifier.unconfirmed, notifier.delivered, notifier.failed) == (1, 0, 0)


def test_a_retry_after_an_error_status_carries_the_same_message_id() -> None:
    """A receiver answering 500 may have acted on the message: the retry carries the same id to de-duplicate on,
    and the next message another one."""
    with Receiver(statuses=[500]) as rx:
        notifier = notify.Notifier([rx.url("hook")], backoff_s=(0.05,))
        try:
            notifier.send("first", "b")
            assert notifier.flush(10.0)
            notifier.send("second", "b")
            assert notifier.flush(10.0)
            got = rx.wait_for(3, timeout_s=5.0)
        finally:
            notifier.stop(0.5)
    assert [(r["status"], r["json"]["title"]) for r in got] == [(500, "first"), (200, "first"), (200, "second")]
    ids = [r["json"].get("message_id") for r in got]
    assert ids[0] and ids[0] == ids[1] and ids[2] and ids[2] != ids[0], ids


def test_a_refused_connection_is_still_retried_and_counted_failed() -> None:
    """Nothing was sent: every attempt is made (within the budget), and the message counts as failed."""
    with Receiver() as rx:
        closed = rx.url("hook")  # the port is closed once the receiver is gone
    seen: list[notify.Delivery] = []
    notifier = notify.Notifier([closed], attempts=3, backoff_s=(0.05,), try_timeout_s=1.0, budget_s=5.0,
                               on_delivery=seen.append)
    try:
        notifier.send("RegimeDesk: trading HALTED", "kill switch by alice", "failure")
        assert notifier.flush(10.0)
    finally:
        notifier.stop(0.5)
    assert [(d.ok, d.unconfirmed, d.attempts) for d in seen] == [(False, False, 3)]
    assert (notifier.failed, notifier.unconfirmed, notifier.delivered) == (1, 0, 0)
