"""Notifications through apprise to a real HTTP receiver on 127.0.0.1 (issue 9): delivery, a retry after a
first 500, never blocking the caller, a bounded queue, URLs masked in logs, and the state-change and
failed-step hooks."""
from __future__ import annotations

import logging
import time

import pytest

from engine import notify
from engine.settings import load_settings
from engine.trading import control
from engine.trading.brokers.alpaca import AlpacaBroker
from tests.notify_receiver import Receiver
from tests.trading_control_fixtures import make_ctx, place_resting_orders

SECRET = "s3cretTOKENabc123"


@pytest.fixture()
def process_notifier():
    """Restore a disabled process notifier after the test (it is per process)."""
    yield
    notify.configure([])


def test_delivers_and_retries_after_a_500(caplog):
    with Receiver(statuses=[500]) as rx:
        notifier = notify.Notifier([rx.url(f"hook/{SECRET}")], backoff_s=(0.2, 0.4, 0.8))
        caplog.set_level(logging.DEBUG)
        t0 = time.perf_counter()
        assert notifier.send("RegimeDesk: trading HALTED", "kill switch by alice", "failure")
        queued_in = time.perf_counter() - t0
        assert notifier.flush(15.0)
        got = rx.wait_for(2)
        notifier.stop()
    assert queued_in < 0.05, f"send() blocked for {queued_in:.3f} s"
    assert [r["status"] for r in got] == [500, 200]
    assert got[1]["at"] - got[0]["at"] >= 0.2  # the retry waited its backoff
    assert got[1]["json"]["title"] == "RegimeDesk: trading HALTED"
    assert got[1]["json"]["message"] == "kill switch by alice"
    assert got[1]["path"] == f"/hook/{SECRET}"
    assert notifier.delivered == 1 and notifier.failed == 0
    assert SECRET not in caplog.text  # the URL's token never reaches a log line
    assert "json://127.0.0.1:" in caplog.text and "/***" in caplog.text  # the masked form does


def test_a_target_that_keeps_failing_is_given_up_after_the_attempts():
    with Receiver(statuses=[500, 500, 500, 500, 500]) as rx:
        notifier = notify.Notifier([rx.url()], attempts=3, backoff_s=(0.05,))
        notifier.send("t", "b")
        assert notifier.flush(15.0)
        got = rx.wait_for(3)
        notifier.stop()
    assert len(got) == 3 and notifier.failed == 1 and notifier.delivered == 0


def test_send_never_blocks_and_the_queue_is_bounded():
    with Receiver(delay_s=1.0) as rx:
        notifier = notify.Notifier([rx.url()], queue_size=2)
        t0 = time.perf_counter()
        accepted = [notifier.send(f"m{i}", "b") for i in range(6)]
        took = time.perf_counter() - t0
        assert took < 0.1, f"six sends took {took:.3f} s with a slow receiver"
        # all of one level: a full queue drops its OLDEST message, so every send is accepted. The worker takes
        # at most one message while the sends run (the receiver holds it 1 s): whichever was oldest in the queue
        # when it woke (m0..m3, or none yet); the queue keeps the newest two: 3 (or 4) dropped, m4 and m5 last
        assert accepted == [True] * 6 and notifier.dropped in (3, 4)
        assert notifier.flush(5.0)
        got = [r["json"]["title"] for r in rx.wait_for(6 - notifier.dropped, timeout_s=1.0)]
        notifier.stop(flush_s=5.0)
    assert got[-2:] == ["m4", "m5"] and len(got) == 6 - notifier.dropped
    assert len(got) == 2 or got[0] in ("m0", "m1", "m2", "m3"), got


def test_urls_are_secret_in_settings():
    settings = load_settings(notify_urls=f"json://127.0.0.1:1/{SECRET}, ntfy://topic{SECRET}")
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())
    assert settings.notify_targets == [f"json://127.0.0.1:1/{SECRET}", f"ntfy://topic{SECRET}"]
    assert notify.masked(settings.notify_targets[0]) == "json://127.0.0.1:1/***"


def test_halt_and_a_failed_step_notify(tmp_path, any_db_url, process_notifier):
    ctx = make_ctx(tmp_path, url=any_db_url)
    with Receiver() as rx:
        notify.configure([rx.url()])
        place_resting_orders(ctx, 3)
        assert control.perform(ctx, "web:alice", "halt", reason="news").status == "done"
        got = rx.wait_for(1)
        assert got and got[0]["json"]["title"] == "RegimeDesk: trading HALTED"
        assert "ACTIVE → HALTED by web:alice: news" in got[0]["json"]["message"]

        # a real broker that cannot be reached (nothing listens on port 9): the cancel step fails
        dead = AlpacaBroker("k", "s", paper=True, url_override="http://127.0.0.1:9", timeout_s=0.5)
        broken = control.SimpleControlContext(store=ctx.store, clock=ctx.clock, broker=dead)
        result = control.perform(broken, "web:alice", "halt", reason="again")
        assert result.status == "failed"
        got = rx.wait_for(2)
    titles = [r["json"]["title"] for r in got]
    assert f"RegimeDesk: halt #{result.command_id} failed" in titles
    ctx.store.dispose()


def test_a_check_turning_unhealthy_is_told_once(tmp_path, any_db_url, process_notifier):
    from engine.health.checks import CheckResult
    from engine.store.models import HealthResult
    from tests.trading_control_fixtures import T0

    ctx = make_ctx(tmp_path, url=any_db_url)
    bad = [CheckResult("broker", "unhealthy", "paper: 3 errors in 12 probes"), CheckResult("disk", "healthy", "ok")]
    with Receiver() as rx:
        notify.configure([rx.url()])
        assert notify.unhealthy_checks(ctx.store, bad) == 1  # healthy before (no history): a transition
        with ctx.store.write() as s:  # the health job stores the run
            s.add_all(HealthResult(ts=T0, engine_id="e", name=c.name, status=c.status, detail=c.detail) for c in bad)
        assert notify.unhealthy_checks(ctx.store, bad) == 0  # still unhealthy: no new message
        got = rx.wait_for(1)
        assert notify.current().flush(5.0)
    assert [r["json"]["title"] for r in got] == ["RegimeDesk: broker unhealthy"]
    assert got[0]["json"]["message"] == "paper: 3 errors in 12 probes"
    ctx.store.dispose()
