"""Notification storms and bad receivers (real HTTP receivers and a real mute TCP server on 127.0.0.1): a hanging
target delays only itself, each delivery is bounded in time, a full queue drops the oldest lowest-level message
(never a HALT), and a flapping check pages once per cooldown, the next page counting what was held back."""
from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

from engine import notify
from engine.health.checks import CheckResult
from engine.store.models import HealthResult
from tests.mute_server import MuteServer
from tests.notify_receiver import Receiver
from tests.trading_control_fixtures import T0, make_ctx

WAIT_S = 20.0  # upper bound of every wait below (never reached when the code works)


class MuteTarget(MuteServer):
    """A hung webhook: a notification URL on a server that accepts and never answers."""

    def __init__(self) -> None:
        super().__init__(lifetime_s=2 * WAIT_S)

    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def wait_for(self, count: int, timeout_s: float = WAIT_S) -> list[float]:
        return super().wait_for(count, timeout_s)

    def __enter__(self) -> MuteTarget:
        super().__enter__()
        return self


class GateReceiver(Receiver):
    """A Receiver that records each POST on arrival, then answers only once `gate` is set (bounded)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append({"json": json.loads(body or b"{}"), "at": time.monotonic()})
                receiver.gate.wait(WAIT_S)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.server.RequestHandlerClass = Handler


def _titles(rx: Receiver, count: int) -> list[str]:
    return [r["json"]["title"] for r in rx.wait_for(count, timeout_s=WAIT_S)]


def test_a_hanging_target_delays_only_itself():
    with MuteTarget() as dead, Receiver() as healthy:
        notifier = notify.Notifier([dead.url(), healthy.url()], attempts=2, backoff_s=(0.05,))
        assert notifier.send("RegimeDesk: broker unhealthy", "3 errors", "failure")
        assert notifier.send("RegimeDesk: trading HALTED", "kill switch", "failure")
        got = healthy.wait_for(2, timeout_s=WAIT_S)
        retried_at = dead.wait_for(2)  # the dead target's second try: its first was given up
        notifier.stop(flush_s=0.0)
    assert [r["json"]["title"] for r in got] == ["RegimeDesk: broker unhealthy", "RegimeDesk: trading HALTED"]
    assert len(retried_at) >= 2
    # both messages reached the healthy target before the dead one's first try was even given up
    assert got[1]["at"] < retried_at[1]


def test_each_delivery_to_a_dead_target_is_bounded_in_time():
    try_s, budget_s, backoff_s = 0.5, 1.2, 0.1
    with MuteTarget() as dead:
        notifier = notify.Notifier([dead.url()], attempts=5, backoff_s=(backoff_s,), try_timeout_s=try_s,
                                   budget_s=budget_s)
        t0 = time.monotonic()
        notifier.send("RegimeDesk: trading HALTED", "kill switch", "failure")
        deadline = t0 + WAIT_S
        while notifier.failed + notifier.unconfirmed == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        took = time.monotonic() - t0
        tries = len(dead.accepted_at)
        notifier.stop(flush_s=0.0)
    # the request went out and no answer came: unconfirmed; a failure-level page (HALT) is sent again within the
    # budget (at least once delivered, engine/notify_delivery.py), every try bounded
    assert (notifier.unconfirmed, notifier.failed, notifier.delivered) == (1, 0, 0)
    # a try lasts at least try_s (nobody answers); the last may start just before the budget ends and run
    # try_s (+0.5 s for the abandoned sender's join): given up well before 5 tries of try_s each
    assert took < budget_s + try_s + 0.5 + backoff_s, f"gave up after {took:.2f} s"
    assert 1 <= tries <= 2  # 0.5 + 0.1 + 0.5 = 1.1 s; a third try would start past the 1.2 s budget


def test_a_full_queue_drops_the_oldest_lowest_level_never_the_halt():
    with GateReceiver() as rx:
        notifier = notify.Notifier([rx.url()], queue_size=3)
        notifier.send("blocker", "b", "warning")
        assert _titles(rx, 1) == ["blocker"]  # the worker is busy with it until the gate opens
        sent = [notifier.send(title, "b", level) for title, level in
                [("w1", "warning"), ("i1", "info"), ("w2", "warning"), ("HALT", "failure"), ("w3", "warning"),
                 ("i2", "info")]]
        # queue of 3: [w1 i1 w2] +HALT drops i1 (lowest) -> [w1 w2 HALT] +w3 drops w1 (oldest warning)
        # -> [w2 HALT w3] +i2: the new info message is itself the lowest: dropped, send() says False
        assert sent == [True, True, True, True, True, False] and notifier.dropped == 3
        rx.gate.set()
        assert notifier.flush(WAIT_S)
        got = _titles(rx, 4)
        notifier.stop()
    assert got == ["blocker", "w2", "HALT", "w3"]


def test_failure_messages_overfill_a_full_queue_instead_of_being_dropped():
    with GateReceiver() as rx:
        notifier = notify.Notifier([rx.url()], queue_size=1)
        notifier.send("blocker", "b", "warning")
        assert _titles(rx, 1) == ["blocker"]
        assert [notifier.send(f"F{i}", "b", "failure") for i in (1, 2)] == [True, True]
        assert notifier.dropped == 0
        rx.gate.set()
        assert notifier.flush(WAIT_S)
        got = _titles(rx, 3)
        notifier.stop()
    assert got == ["blocker", "F1", "F2"]


def _flap(ctx: Any, i: int, check: CheckResult) -> int:
    """One health run turning `check` unhealthy, then one turning it degraded (both stored)."""
    sent = notify.unhealthy_checks(ctx.store, [check])
    with ctx.store.write() as s:
        s.add(HealthResult(ts=T0 + timedelta(minutes=2 * i), engine_id="e", name=check.name, status="unhealthy",
                           detail=check.detail))
        s.add(HealthResult(ts=T0 + timedelta(minutes=2 * i + 1), engine_id="e", name=check.name, status="degraded",
                           detail="recovering"))
    return sent


def test_a_flapping_check_pages_once_per_cooldown(tmp_path, any_db_url):
    ctx = make_ctx(tmp_path, url=any_db_url)
    check = CheckResult("broker", "unhealthy", "paper: 3 errors in 12 probes")
    with Receiver() as rx:
        notifier = notify.configure([rx.url()])
        sent = [_flap(ctx, i, check) for i in range(30)]  # 30 flaps: well inside the 15-minute cooldown
        assert notifier.flush(WAIT_S)
        time.sleep(0.2)  # nothing else arrives
        got = rx.wait_for(1, timeout_s=WAIT_S)
    assert sent == [1] + [0] * 29
    assert [r["json"]["title"] for r in got] == ["RegimeDesk: broker unhealthy"]
    ctx.store.dispose()


def test_the_page_after_a_cooldown_says_how_many_were_held_back(tmp_path, any_db_url):
    ctx = make_ctx(tmp_path, url=any_db_url)
    check = CheckResult("broker", "unhealthy", "paper: 3 errors in 12 probes")
    now = [0.0]
    with Receiver() as rx:
        notifier = notify.configure([rx.url()], check_cooldown_s=900, clock=lambda: now[0])
        sent = []
        for i, at in enumerate([0, 10, 20, 30, 40, 900, 950]):  # seconds on the notifier's clock
            now[0] = at
            sent.append(_flap(ctx, i, check))
        assert notifier.flush(WAIT_S)
        got = rx.wait_for(2, timeout_s=WAIT_S)
    # t=0 pages; 10..40 are held (4); t=900 is 900 s after the last page: pages, counting 4; t=950 is held
    assert sent == [1, 0, 0, 0, 0, 1, 0]
    assert [r["json"]["message"] for r in got] == [
        "paper: 3 errors in 12 probes",
        "paper: 3 errors in 12 probes\n(4 more unhealthy report(s) of this check held back since the previous "
        "message: at most one per 15 min)"]
    ctx.store.dispose()
