"""The engine lease is asked again right before each POST of an order, not only before the native-stop cancels
(store on SQLite and PostgreSQL, real HTTP to the local fake Alpaca server).

An old leader that stalls after the gateway's first lease check (here: in the session check's clock read, or in a
POST answered 429 that is then retried) past its lease sends nothing once it resumes. A real stall moves the
process's monotonic clock past the lease it renewed; the test gives the fence that same view (renewed more than a
lease ago) at the moment of the stall, and moves the shared hand clock so a standby takes over.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import cast

import pytest
from sqlalchemy import select

from engine import jobs
from engine.clock import ManualClock
from engine.context import EngineContext
from engine.lease import FencedOut, LeaseFence
from engine.store.models import EngineLease, OrderRow
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.brokers.alpaca_limits import RateLimiter
from engine.trading.brokers.base import OrderSide, OrderStatus, OrderType
from engine.trading.gateway import OrderIntent, submit
from tests.fake_alpaca import FakeAlpacaServer
from tests.trading_control_fixtures import LOOSE, broker_context

KEY, SECRET = "test-key", "test-secret"
LAPSED = "lease may have lapsed before order"


def make_broker(srv: FakeAlpacaServer) -> AlpacaBroker:
    return AlpacaBroker(KEY, SECRET, paper=True, url_override=srv.url, timeout_s=6.0, deadline_s=12.0,
                        retry_wait_s=0.01, limiter=RateLimiter(per_minute=60_000, burst=1000))


@pytest.fixture
def leaders(tmp_path, any_db_url: str) -> Iterator[tuple[EngineContext, EngineContext, FakeAlpacaServer, list[str]]]:
    """Engine A leads, engine B stands by; one store, one fake Alpaca, one hand clock."""
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server, \
            broker_context(tmp_path, any_db_url, lambda _clock: make_broker(server), LOOSE) as ctx:
        stepped_down: list[str] = []
        a = dataclasses.replace(ctx, engine_id="engine-a",
                                fence=LeaseFence("engine-a", on_lost=lambda: stepped_down.append("a")))
        b = dataclasses.replace(ctx, engine_id="engine-b", fence=LeaseFence("engine-b"))
        assert jobs.heartbeat(a) is True and jobs.heartbeat(b) is False
        yield a, b, server, stepped_down


def stall(a: EngineContext, b: EngineContext | None) -> None:
    """A freezes past its lease (its own view: renewed more than a lease ago); B, if given, takes over."""
    assert a.fence is not None and a.fence.epoch is not None
    a.fence.grant(a.fence.epoch, time.monotonic() - 1.0)
    if b is not None:
        cast(ManualClock, a.clock).advance(timedelta(seconds=jobs.LEASE_SECONDS + 1))
        assert jobs.heartbeat(b) is True


def row_of(ctx: EngineContext) -> OrderRow:
    with ctx.store.read() as s:
        row = s.scalars(select(OrderRow).order_by(OrderRow.id.desc())).first()
    assert row is not None
    return row


def intent(key: str) -> OrderIntent:
    # a limit far below the market: had it gone out, it would rest in the fake's book
    return OrderIntent("AAA", OrderSide.BUY, Decimal(7), OrderType.LIMIT, Decimal(60), reason="t", idempotency_key=key)


def test_a_leader_stalled_in_the_session_check_past_a_takeover_sends_nothing(leaders) -> None:
    a, b, server, stepped_down = leaders
    epoch_a = a.fence.epoch
    server.on_request("GET", "/v2/clock", 1, lambda: stall(a, b))  # the read right before the POST
    with pytest.raises(FencedOut, match="no longer holds the engine lease"):
        submit(a, intent("stall-clock"), "system:planner", "planner", LOOSE)
    assert server.hits_for("GET", "/v2/clock") == 1, "the stall happened inside the send, after the first check"
    assert server.hits_for("POST", "/v2/orders") == 0 and server.book.orders == {}
    row = row_of(a)  # recorded under A's epoch before the stall; A writes nothing after the takeover
    assert (row.status, row.lease_epoch, row.reject_reason) == (OrderStatus.PENDING_NEW.value, epoch_a, None)
    with a.store.read() as s:
        lease = s.get(EngineLease, 1)
        assert lease is not None and (lease.holder, lease.epoch) == ("engine-b", epoch_a + 1)
    assert stepped_down == ["a"] and a.fence.epoch is None


def test_a_retry_after_the_lease_lapsed_is_not_sent(leaders) -> None:
    """The first POST is answered 429 (Alpaca did nothing); A stalls in the rate limiter's wait (>= 1 s) before the
    retry, past its lease, and B takes over: the retry is refused for the lease."""
    a, b, server, _ = leaders
    server.inject("POST", "/v2/orders", "429")
    raised: list[BaseException] = []

    def send() -> None:
        try:
            submit(a, intent("stall-retry"), "system:planner", "planner", LOOSE)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            raised.append(exc)
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    for _ in range(300):  # bounded: at most 3 s for the first attempt to be answered 429
        if server.hits_for("POST", "/v2/orders") >= 1:
            break
        time.sleep(0.01)
    assert server.hits_for("POST", "/v2/orders") == 1
    stall(a, b)  # while the sender waits for the limiter before its retry
    sender.join(15.0)
    assert not sender.is_alive()
    assert len(raised) == 1 and isinstance(raised[0], FencedOut), raised
    assert server.hits_for("POST", "/v2/orders") == 1, "only the attempt answered 429; the retry never left"
    assert server.book.orders == {}


def test_a_lapse_nobody_took_over_yet_is_refused_with_its_reason_stored(leaders) -> None:
    """Still the holder in the store (no takeover yet): the refusal is recorded on the order, then A steps down."""
    a, _, server, stepped_down = leaders
    server.on_request("GET", "/v2/clock", 1, lambda: stall(a, None))
    with pytest.raises(FencedOut, match=LAPSED):
        submit(a, intent("lapse-own"), "system:planner", "planner", LOOSE)
    assert server.hits_for("POST", "/v2/orders") == 0 and server.book.orders == {}
    row = row_of(a)
    assert row.status == OrderStatus.REJECTED.value
    assert (row.reject_reason or "").startswith("not sent:") and LAPSED in (row.reject_reason or "")
    assert stepped_down == ["a"]
