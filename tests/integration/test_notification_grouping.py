"""One outage is one page: the checks one health run finds newly unhealthy go out in one notification listing them
(engine/notify.py unhealthy_checks), and an overall rate limit (REGIMEDESK_NOTIFY_RATE_LIMIT per
REGIMEDESK_NOTIFY_RATE_WINDOW_MINUTES, engine/notify_limits.py) holds the rest, summarised in one message once the
window has room; a HALT always goes at once. Real checks over a real store (SQLite and PostgreSQL), delivery through
apprise json:// to a real HTTP receiver on 127.0.0.1."""
from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine import notify
from engine.clock import ManualClock
from engine.health.checks import CheckResult, check_broker_probe, check_jobs
from engine.runtime import build_context
from engine.settings import SettingsError, load_settings
from engine.store.models import HealthResult, JobRun
from tests.notify_receiver import Receiver

WAIT_S = 15.0  # upper bound of every wait below (never reached when the code works)
INTERVALS = {"market": 1.0, "account": 5.0, "planner": 5.0, "commands": 0.25, "risk": 2.0, "reconcile": 60.0}
FAILED_JOBS = ("account", "commands", "planner", "reconcile", "risk")  # the jobs that call the broker


class DownBroker:
    """The broker's API answers nothing."""

    name = "alpaca"

    def get_account(self) -> None:
        raise ConnectionError("broker down")


@pytest.fixture
def outage(any_db_url: str) -> Iterator[tuple[Any, datetime]]:
    """A store where, for the last 2 minutes, every broker-calling job failed and the market job ran fine."""
    now = datetime.now(UTC).replace(microsecond=0)
    ctx = build_context(load_settings(database_url=any_db_url), with_source=False, migrate=True, clock=ManualClock(now))
    ctx.broker = DownBroker()
    with ctx.store.write() as s:
        for job, every in INTERVALS.items():
            bad = job in FAILED_JOBS
            for i in range(int(120 / max(every, 1.0))):
                s.add(JobRun(job=job, engine_id="e", started_at=now - timedelta(seconds=120 - i * max(every, 1.0)),
                             duration_ms=5, outcome="error" if bad else "ok",
                             error="ConnectionError: broker down" if bad else None))
    yield ctx, now
    notify.configure([])  # the process notifier is per process: a disabled one again
    ctx.store.dispose()


def _health_run(ctx: Any, now: datetime) -> list[CheckResult]:
    return [check_broker_probe(ctx, [("unhealthy", None)] * 11), *check_jobs(ctx, now, INTERVALS, now - timedelta(hours=1))]


def _store(ctx: Any, at: datetime, results: list[CheckResult]) -> None:
    with ctx.store.write() as s:  # what the health job does after notifying
        s.add_all(HealthResult(ts=at, engine_id="e", name=r.name, status=r.status, detail=r.detail) for r in results)


def test_one_health_run_of_a_broker_outage_is_one_page_listing_the_checks(outage: tuple[Any, datetime]) -> None:
    ctx, now = outage
    with Receiver() as rx:
        notify.configure([rx.url()])
        results = _health_run(ctx, now)
        assert notify.unhealthy_checks(ctx.store, results) == 1
        _store(ctx, now, results)
        # the next run, same outage: nothing new, nothing sent; then the disk fills up too: a page for it alone
        disk = CheckResult("disk", "unhealthy", "/var: 99% used")
        assert notify.unhealthy_checks(ctx.store, [*_health_run(ctx, now), disk]) == 1
        assert notify.current().flush(WAIT_S)
        time.sleep(0.2)  # nothing else arrives
        got = rx.wait_for(2, timeout_s=WAIT_S)
    # hand-computed: the 5 failed jobs err on every run (rate 1.0 >= 0.5), the broker probe failed 12 of 12;
    # the market job ran every second without error and is healthy
    names = ["broker latency", "job account", "job commands", "job planner", "job reconcile", "job risk"]
    assert [r["json"]["title"] for r in got] == [f"RegimeDesk: 6 checks unhealthy: {', '.join(names)}",
                                                "RegimeDesk: disk unhealthy"]
    lines = got[0]["json"]["message"].splitlines()
    assert lines[0] == "6 checks turned unhealthy in one health run:"
    assert [line.split(":")[0] for line in lines[1:]] == [f"- {name}" for name in names]
    assert "- broker latency: alpaca: failed: ConnectionError: broker down; 12 of the last 12 probes failed" in lines
    assert "- job risk: every 2 s; 60 runs, 60 errors, 0 skipped in 5 min; last 2 s ago" in lines
    assert got[1]["json"]["message"] == "/var: 99% used"


def test_over_the_rate_limit_messages_are_summarised_when_the_window_opens_and_a_halt_always_goes() -> None:
    window_s = 6.0  # 0.1 min: wide enough that a loaded machine delivers the first three well inside it
    with Receiver() as rx:
        notifier = notify.Notifier([rx.url()], rate_max=2, rate_window_s=window_s)
        t0 = time.monotonic()
        sent = [notifier.send(f"w{i}", "b", "warning") for i in range(1, 6)]
        halted = notifier.send("RegimeDesk: trading HALTED", "kill switch", "failure")
        rx.wait_for(3, timeout_s=WAIT_S)
        assert time.monotonic() - t0 < window_s  # all three went at once
        got = rx.wait_for(4, timeout_s=WAIT_S)  # the summary: sent by the limiter itself, nothing else is sent
        summarised_after = got[-1]["at"] - t0  # the receiver stamps with this process's monotonic clock
        notifier.stop()
    assert sent == [True, True, False, False, False] and halted
    assert [r["json"]["title"] for r in got] == ["w1", "w2", "RegimeDesk: trading HALTED",
                                                "RegimeDesk: 3 notification(s) held back (rate limit)"]
    assert got[3]["json"]["message"] == ("At most 2 notification(s) per 0.1 min are sent; these were held back:\n"
                                         "- w3\n- w4\n- w5")
    assert window_s <= summarised_after < window_s + 4.0  # when the window had room again, not before


def test_what_is_held_back_is_summarised_at_shutdown_not_lost() -> None:
    with Receiver() as rx:
        notifier = notify.Notifier([rx.url()], rate_max=1, rate_window_s=600)
        assert [notifier.send(t, "b", "info") for t in ("a", "RegimeDesk: trading STOPPED")] == [True, False]
        notifier.stop(flush_s=WAIT_S)
        got = rx.wait_for(2, timeout_s=WAIT_S)
    assert [r["json"]["title"] for r in got] == ["a", "RegimeDesk: 1 notification(s) held back (rate limit)"]
    assert got[1]["json"]["message"].endswith("\n- RegimeDesk: trading STOPPED")


def test_the_rate_limit_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGIMEDESK_NOTIFY_RATE_LIMIT", "3")
    monkeypatch.setenv("REGIMEDESK_NOTIFY_RATE_WINDOW_MINUTES", "2.5")
    with Receiver() as rx:
        try:
            gate = notify.configure([rx.url()]).gate
            assert gate is not None and (gate.limit.max_count, gate.limit.window_s) == (3, 150.0)
        finally:
            notify.configure([])
    monkeypatch.delenv("REGIMEDESK_NOTIFY_RATE_LIMIT")
    monkeypatch.delenv("REGIMEDESK_NOTIFY_RATE_WINDOW_MINUTES")
    assert (load_settings().notify_rate_limit, load_settings().notify_rate_window_minutes) == (5, 10.0)
    with pytest.raises(SettingsError, match="REGIMEDESK_NOTIFY_RATE_LIMIT: .*greater than or equal to 1"):
        load_settings(notify_rate_limit=0)
