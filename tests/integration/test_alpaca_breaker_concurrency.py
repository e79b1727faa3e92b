"""The circuit breaker never serialises Alpaca calls (real HTTP to the local fake Alpaca server).

pybreaker's CircuitBreaker.call holds one lock for the whole call; a kill switch's cancel then
waited behind every slow read in other threads. These tests put slow reads in flight and time the
cancel against the reads' own configured delay, and check the breaker still counts as before.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal

import pybreaker
import pytest

from engine.trading.brokers.alpaca import AlpacaBroker, AlpacaCircuitOpen
from engine.trading.brokers.alpaca_limits import RateLimiter
from engine.trading.brokers.base import BrokerUnavailable, OrderRejected, OrderRequest, OrderSide, OrderType
from tests.fake_alpaca import FakeAlpacaServer

KEY, SECRET = "test-key", "test-secret"
SLOW_S = 1.5  # how long the fake server holds each slow read


class Transitions(pybreaker.CircuitBreakerListener):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def state_change(self, cb: pybreaker.CircuitBreaker, old: object, new: pybreaker.CircuitBreakerState) -> None:
        self.seen.append(new.name)


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as srv:
        yield srv


def make_broker(srv: FakeAlpacaServer, **kw: object) -> AlpacaBroker:
    """Per-attempt timeout and deadline well above SLOW_S: the slow reads succeed, they are only slow."""
    opts: dict[str, object] = {"timeout_s": 3 * SLOW_S, "deadline_s": 4 * SLOW_S, "retry_attempts": 1,
                               "limiter": RateLimiter(per_minute=60_000, burst=1000)}
    opts.update(kw)
    return AlpacaBroker(KEY, SECRET, paper=True, url_override=srv.url, **opts)  # type: ignore[arg-type]


def wait_for_hits(srv: FakeAlpacaServer, method: str, path: str, n: int, within_s: float = 2.0) -> bool:
    """True once the server has received n requests to method + path (bounded)."""
    for _ in range(int(within_s / 0.01)):
        if srv.hits_for(method, path) >= n:
            return True
        time.sleep(0.01)
    return False


def in_thread(fn: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    out: list[object] = []

    def run() -> None:
        try:
            out.append(fn())
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            out.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def limit_buy(cid: str) -> OrderRequest:
    return OrderRequest(cid, "AAPL", OrderSide.BUY, Decimal(1), OrderType.LIMIT, Decimal(50))


def test_cancel_all_is_not_held_behind_slow_reads_in_other_threads(server: FakeAlpacaServer) -> None:
    broker = make_broker(server)
    broker.submit_order(limit_buy("rest-1"))
    assert len(server.book.open_orders()) == 1
    server.inject("GET", "/v2/account", "delay", delay_s=SLOW_S)
    server.inject("GET", "/v2/positions", "delay", delay_s=SLOW_S)
    account, account_out = in_thread(broker.get_account)
    assert wait_for_hits(server, "GET", "/v2/account", 1), "the slow account read reached the server"
    positions, positions_out = in_thread(broker.get_positions)
    both_out = wait_for_hits(server, "GET", "/v2/positions", 1, within_s=SLOW_S / 3)
    started = time.monotonic()
    results = broker.cancel_all_orders()
    took = time.monotonic() - started
    account.join(4 * SLOW_S)
    positions.join(4 * SLOW_S)
    # answered at once by the server; a third of one read's delay is ample for a local DELETE (the old
    # lock made it wait for the account read's remaining time and then the whole positions read: > SLOW_S)
    assert took < SLOW_S / 3, f"cancel took {took:.2f} s behind reads of {SLOW_S} s"
    assert both_out, "both slow reads were in flight at once (a call does not wait for another to finish)"
    assert [r.ok for r in results] == [True] and server.book.open_orders() == []
    assert account_out[0].cash == Decimal("100000")  # type: ignore[union-attr]
    assert positions_out[0] == []
    assert broker.breaker_state() == "closed"


def test_concurrent_transport_failures_open_the_circuit_once(server: FakeAlpacaServer) -> None:
    listener = Transitions()
    broker = make_broker(server, breaker=pybreaker.CircuitBreaker(fail_max=4, reset_timeout=60, listeners=[listener]))
    server.inject("GET", "/v2/account", "500", times=4)
    threads = [in_thread(broker.get_account) for _ in range(4)]
    for t, _ in threads:
        t.join(4 * SLOW_S)
    errors = [out[0] for _, out in threads]
    assert all(isinstance(e, BrokerUnavailable) for e in errors), errors
    assert sum("opened the circuit breaker" in str(e) for e in errors) == 1, "exactly the 4th failure tripped it"
    assert broker.breaker_state() == "open" and listener.seen == ["open"]
    assert broker.breaker.fail_counter == 4
    hits = server.total_hits()
    with pytest.raises(AlpacaCircuitOpen):
        broker.get_positions()
    assert server.total_hits() == hits, "nothing is sent while open"


def test_answers_and_not_sent_do_not_count_as_failures(server: FakeAlpacaServer) -> None:
    """Unchanged accounting: 4xx and 429 are answers (they reset the count), a request never sent counts nothing."""
    broker = make_broker(server, breaker=pybreaker.CircuitBreaker(fail_max=2, reset_timeout=60))
    server.inject("GET", "/v2/account", "500")
    with pytest.raises(BrokerUnavailable):
        broker.get_account()
    assert broker.breaker.fail_counter == 1
    server.book.reject_symbols.add("GME")
    with pytest.raises(OrderRejected):
        broker.submit_order(OrderRequest("gme-1", "GME", OrderSide.BUY, Decimal(1)))
    assert broker.breaker.fail_counter == 0, "Alpaca answered: it is up"
    server.inject("GET", "/v2/account", "500")
    with pytest.raises(BrokerUnavailable):
        broker.get_account()
    server.inject("GET", "/v2/positions", "429", times=5)
    with pytest.raises(BrokerUnavailable):
        broker.get_positions()
    assert broker.breaker.fail_counter == 0 and broker.breaker_state() == "closed"
    server.inject("GET", "/v2/account", "500")
    with pytest.raises(BrokerUnavailable):
        broker.get_account()
    tight = make_broker(server, breaker=broker.breaker, deadline_s=0.005)  # no time to send anything
    with pytest.raises(BrokerUnavailable, match="not sent"):
        tight.get_account()
    assert broker.breaker.fail_counter == 1 and broker.breaker_state() == "closed"


def test_half_open_lets_one_slow_trial_out_and_others_fail_fast(server: FakeAlpacaServer) -> None:
    listener = Transitions()
    reset_s = 0.3
    broker = make_broker(server, breaker=pybreaker.CircuitBreaker(fail_max=1, reset_timeout=reset_s,
                                                                 listeners=[listener]))
    server.inject("GET", "/v2/account", "500")
    with pytest.raises(BrokerUnavailable, match="opened the circuit breaker"):
        broker.get_account()
    time.sleep(reset_s + 0.05)
    server.inject("GET", "/v2/account", "delay", delay_s=SLOW_S)
    trial, trial_out = in_thread(broker.get_account)
    assert wait_for_hits(server, "GET", "/v2/account", 2), "the trial call reached the server"
    assert broker.breaker_state() == "half-open"
    started = time.monotonic()
    with pytest.raises(AlpacaCircuitOpen, match="not sent"):
        broker.get_positions()
    assert time.monotonic() - started < SLOW_S / 3, "refused at once, not queued behind the trial"
    assert server.hits_for("GET", "/v2/positions") == 0
    trial.join(4 * SLOW_S)
    assert trial_out[0].cash == Decimal("100000")  # type: ignore[union-attr]
    assert listener.seen == ["open", "half-open", "closed"]
    assert broker.get_positions() == []
