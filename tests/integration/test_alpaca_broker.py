"""AlpacaBroker over real HTTP against the local fake Alpaca server (alpaca-py is not mocked)."""
from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pybreaker
import pytest
from pydantic import SecretStr

from engine.health.checks import DEGRADED, HEALTHY, check_broker
from engine.trading.brokers.alpaca import AlpacaBroker, AlpacaCircuitOpen, build_alpaca_broker
from engine.trading.brokers.alpaca_limits import RateLimiter
from engine.trading.brokers.base import (
    BrokerError,
    BrokerNotSent,
    BrokerOrder,
    BrokerUnavailable,
    OrderRejected,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
)
from tests.fake_alpaca import FakeAlpacaServer

KEY, SECRET = "test-key", "test-secret-never-shown"


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as srv:
        yield srv


def make_broker(srv: FakeAlpacaServer, **kw: object) -> AlpacaBroker:
    opts: dict[str, object] = {"timeout_s": 1.0, "retry_wait_s": 0.01, "retry_max_wait_s": 0.05,
                               "deadline_s": 4.0}
    opts.update(kw)
    opts.setdefault("limiter", RateLimiter(per_minute=60_000, burst=1000))  # each test its own generous budget
    return AlpacaBroker(KEY, SECRET, paper=True, url_override=srv.url, **opts)  # type: ignore[arg-type]


@pytest.fixture
def broker(server: FakeAlpacaServer) -> AlpacaBroker:
    return make_broker(server)


def buy(cid: str, qty: str = "3", symbol: str = "AAPL", limit: str | None = None) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid, symbol=symbol, side=OrderSide.BUY, qty=Decimal(qty),
        order_type=OrderType.LIMIT if limit else OrderType.MARKET,
        limit_price=Decimal(limit) if limit else None,
    )


# ---- mapping -------------------------------------------------------------------------
def test_account_and_positions_map_to_decimal(server: FakeAlpacaServer, broker: AlpacaBroker) -> None:
    server.book.cash = Decimal("50000.25")
    server.book.set_position("AAPL", Decimal("10"), Decimal("150.5"))
    server.book.set_position("TSLA", Decimal("-4"), Decimal("200"))
    server.book.prices["AAPL"] = Decimal("155.10")
    acct = broker.get_account()
    assert acct.cash == Decimal("50000.25")
    assert acct.equity == Decimal("50000.25") + Decimal("1551.0") - Decimal("400")
    assert acct.currency == "USD"
    pos = {p.symbol: p for p in broker.get_positions()}
    assert pos["AAPL"].qty == Decimal("10") and pos["AAPL"].avg_entry_price == Decimal("150.5")
    assert pos["AAPL"].market_price == Decimal("155.1")
    assert pos["TSLA"].qty == Decimal("-4"), "short positions are negative"
    assert broker.is_market_open() is True
    server.book.market_open = False
    assert broker.is_market_open() is False


def test_market_order_fills_and_limit_order_rests(server: FakeAlpacaServer, broker: AlpacaBroker) -> None:
    server.book.prices["AAPL"] = Decimal("101.25")
    filled = broker.submit_order(buy("m-1"))
    assert filled.status is OrderStatus.FILLED
    assert filled.filled_qty == Decimal("3") and filled.filled_avg_price == Decimal("101.25")
    assert filled.client_order_id == "m-1" and filled.order_type is OrderType.MARKET
    resting = broker.submit_order(buy("l-1", qty="2", symbol="MSFT", limit="10.50"))
    assert resting.status is OrderStatus.NEW and resting.limit_price == Decimal("10.5")
    assert resting.order_type is OrderType.LIMIT
    got = broker.get_order_by_client_id("l-1")
    assert got is not None and got.broker_order_id == resting.broker_order_id
    assert broker.get_order_by_client_id("nope") is None
    assert [o.client_order_id for o in broker.list_open_orders()] == ["l-1"]


def test_rejection_is_order_rejected_not_retried(server: FakeAlpacaServer, broker: AlpacaBroker) -> None:
    server.book.reject_symbols.add("GME")
    with pytest.raises(OrderRejected, match="insufficient buying power"):
        broker.submit_order(buy("r-1", symbol="GME"))
    assert server.hits_for("POST", "/v2/orders") == 1
    with pytest.raises(OrderRejected, match="limit price"):
        broker.submit_order(OrderRequest("r-2", "AAPL", OrderSide.BUY, Decimal(1), OrderType.LIMIT, None))
    assert server.hits_for("POST", "/v2/orders") == 1, "an invalid order is refused before sending"


def test_cancel_one_and_cancel_all(server: FakeAlpacaServer, broker: AlpacaBroker) -> None:
    orders = [broker.submit_order(buy(f"c-{i}", limit="1")) for i in range(12)]
    broker.cancel_order(orders[0].broker_order_id)
    assert server.book.orders[orders[0].broker_order_id].status == "canceled"
    with pytest.raises(BrokerError, match="not cancelable"):
        broker.cancel_order(orders[0].broker_order_id)
    results = broker.cancel_all_orders()
    assert len(results) == 11 and all(r.ok for r in results)
    assert {r.broker_order_id for r in results} == {o.broker_order_id for o in orders[1:]}
    assert broker.list_open_orders() == []


def test_close_all_positions_cancels_orders_and_flattens(server: FakeAlpacaServer, broker: AlpacaBroker) -> None:
    server.book.set_position("AAPL", Decimal("5"), Decimal("100"))
    server.book.set_position("TSLA", Decimal("-2"), Decimal("100"))
    broker.submit_order(buy("open-1", limit="1"))
    closing = broker.close_all_positions()
    assert {(o.symbol, o.side, o.qty) for o in closing} == {
        ("AAPL", OrderSide.SELL, Decimal(5)), ("TSLA", OrderSide.BUY, Decimal(2))}
    assert broker.get_positions() == []
    assert broker.list_open_orders() == []


def test_close_all_reports_a_symbol_alpaca_could_not_close(server: FakeAlpacaServer, broker: AlpacaBroker) -> None:
    server.book.set_position("AAPL", Decimal("5"), Decimal("100"))
    server.book.set_position("GME", Decimal("3"), Decimal("20"))
    server.book.reject_symbols.add("GME")
    closing = {o.symbol: o for o in broker.close_all_positions()}
    assert closing["AAPL"].status is OrderStatus.FILLED
    assert closing["GME"].status is OrderStatus.REJECTED
    assert "insufficient buying power" in (closing["GME"].reject_reason or "")
    assert [p.symbol for p in broker.get_positions()] == ["GME"]


def test_orders_and_fills_since(server: FakeAlpacaServer, broker: AlpacaBroker) -> None:
    t0 = datetime.now(UTC) - timedelta(seconds=1)
    broker.submit_order(buy("s-1"))
    resting = broker.submit_order(buy("s-2", qty="10", limit="5"))
    server.book.fill(resting.broker_order_id, Decimal("4"), Decimal("5"))
    since = broker.list_orders_since(t0)
    assert {o.client_order_id: o.status for o in since} == {
        "s-1": OrderStatus.FILLED, "s-2": OrderStatus.PARTIALLY_FILLED}
    server.book.fill(resting.broker_order_id, Decimal("2"), Decimal("6"))
    fills = broker.fills_since(t0)
    assert [(f.client_order_id, f.qty, f.price) for f in fills] == [
        ("s-1", Decimal(3), Decimal(100)), ("s-2", Decimal(4), Decimal(5)), ("s-2", Decimal(2), Decimal(6))]
    assert len({f.fill_id for f in fills}) == 3 and all(f.fill_id for f in fills)
    assert all(f.broker_order_id == resting.broker_order_id for f in fills[1:])
    assert broker.fills_since(fills[-1].ts + timedelta(microseconds=1)) == []
    assert broker.list_orders_since(datetime.now(UTC) + timedelta(seconds=5)) == []


def test_old_gtc_order_filled_now_is_seen_and_history_is_capped(server: FakeAlpacaServer, broker: AlpacaBroker) -> None:
    now = datetime.now(UTC)
    old = server.book.submit({"symbol": "AAPL", "qty": 5, "side": "buy", "type": "limit", "limit_price": 1,
                              "client_order_id": "gtc-old", "time_in_force": "gtc"})
    ancient = server.book.submit({"symbol": "AAPL", "qty": 1, "side": "buy", "type": "market", "client_order_id": "ancient"})
    old.created_at = old.updated_at = now - timedelta(days=20)  # beyond the 7-day order lookback
    ancient.created_at = ancient.updated_at = now - timedelta(days=90)  # beyond the 30-day history cap
    for a in server.book.activities:
        a["transaction_time"] = (now - timedelta(days=90)).isoformat()
    since = now - timedelta(seconds=1)
    assert broker.list_orders_since(since) == []
    server.book.fill(old.id, Decimal(2), Decimal("1"))
    [seen] = broker.list_orders_since(since)
    assert seen.client_order_id == "gtc-old" and seen.status is OrderStatus.PARTIALLY_FILLED
    [fill] = broker.fills_since(since)
    assert fill.client_order_id == "gtc-old" and fill.qty == Decimal(2)
    first_sync = datetime(1970, 1, 1, tzinfo=UTC)
    assert [o.client_order_id for o in broker.list_orders_since(first_sync)] == ["gtc-old"]
    assert [f.client_order_id for f in broker.fills_since(first_sync)] == ["gtc-old"]


def test_orders_since_pages_past_500(server: FakeAlpacaServer, broker: AlpacaBroker) -> None:
    t0 = datetime.now(UTC) - timedelta(seconds=1)
    for i in range(620):
        server.book.submit({"symbol": "AAPL", "qty": 1, "side": "buy", "type": "limit", "limit_price": 1,
                            "client_order_id": f"p-{i}"})
    assert len(broker.list_orders_since(t0)) == 620
    assert len(broker.list_open_orders()) == 620
    for i in range(230):
        server.book.submit({"symbol": "MSFT", "qty": 1, "side": "sell", "type": "market", "client_order_id": f"q-{i}"})
    before = server.hits_for("GET", "/v2/account/activities/FILL")
    fills = broker.fills_since(t0)
    assert [f.client_order_id for f in fills] == [f"q-{i}" for i in range(230)]
    assert server.hits_for("GET", "/v2/account/activities/FILL") - before == 3, "paged 100 at a time"


# ---- live opt-in, settings, secrets ------------------------------------------------------
def test_live_requires_explicit_opt_in(server: FakeAlpacaServer) -> None:
    with pytest.raises(BrokerError, match="REGIMEDESK_ALPACA_LIVE"):
        AlpacaBroker(KEY, SECRET, paper=False, url_override=server.url)
    with pytest.raises(BrokerError, match="live"):
        AlpacaBroker(KEY, SECRET, paper=True, url_override="https://api.alpaca.markets")
    live = AlpacaBroker(KEY, SECRET, paper=False, url_override=server.url, allow_live=True)
    assert live.get_account().cash > 0


def test_build_from_settings(server: FakeAlpacaServer) -> None:
    settings = SimpleNamespace(alpaca_key_id=SecretStr(KEY), alpaca_secret_key=SecretStr(SECRET),
                               alpaca_base_url=server.url + "/", alpaca_live=False)
    b = build_alpaca_broker(settings)
    assert b.paper and b.get_account().cash == Decimal("100000")
    assert SECRET not in repr(b)
    with pytest.raises(BrokerError, match="APCA_API_KEY_ID"):
        build_alpaca_broker(SimpleNamespace(alpaca_key_id=None, alpaca_secret_key=None))


def test_sdk_without_expected_internals_fails_loudly() -> None:
    from engine.trading.brokers.alpaca_http import harden_client

    with pytest.raises(RuntimeError, match="cannot enforce timeouts"):
        harden_client(object(), 1.0)  # type: ignore[arg-type]


def test_wrong_keys_give_clear_error_without_secret(server: FakeAlpacaServer) -> None:
    b = AlpacaBroker(KEY, "wrong-secret-xyz", url_override=server.url, timeout_s=1.0)
    with pytest.raises(BrokerError, match="authentication failed") as info:
        b.get_account()
    assert "wrong-secret-xyz" not in str(info.value)


# ---- faults: no duplicate, no lost order ----------------------------------------------------
def submit_like_gateway(broker: AlpacaBroker, req: OrderRequest, tries: int = 5) -> tuple[BrokerOrder, int]:
    """What the gateway does: resubmit the SAME request (same client id) on BrokerUnavailable."""
    for attempt in range(1, tries + 1):
        try:
            return broker.submit_order(req), attempt
        except BrokerUnavailable as exc:
            assert SECRET not in str(exc) and KEY not in str(exc)
            time.sleep(0.05)
    raise AssertionError("order never went through")


# fault kind -> (gateway attempts expected, POST /v2/orders hits expected). alpaca-py's own retries are off:
# the adapter retries a 429 itself (Alpaca did nothing), and every other failure is an unknown outcome
# resolved by a lookup by client order id.
FAULTS = {
    "429": (1, 2),  # certain: nothing done; retried by the adapter within the deadline
    "504": (2, 2),  # unknown: lookup finds nothing; the gateway's later try (same id) places it
    "500": (2, 2),  # same
    "drop": (2, 2),  # connection closed before processing
    "commit_then_drop": (1, 1),  # order placed, answer lost: found by client id lookup
    "commit_then_504": (1, 1),  # placed, answer replaced by a 504: found by client id lookup
    "html_502": (2, 2),  # a proxy's HTML error page: not JSON, still handled as unavailable
    "commit_then_garbage": (1, 1),  # placed, but the 200 answer is not JSON: found by lookup
}


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_submit_under_fault_yields_exactly_one_order(server: FakeAlpacaServer, broker: AlpacaBroker, kind: str) -> None:
    server.inject("POST", "/v2/orders", kind, times=1)
    order, attempts = submit_like_gateway(broker, buy(f"f-{kind}"))
    assert len(server.book.orders_for(f"f-{kind}")) == 1
    assert order.broker_order_id == server.book.orders_for(f"f-{kind}")[0].id
    assert order.status is OrderStatus.FILLED
    assert (attempts, server.hits_for("POST", "/v2/orders")) == FAULTS[kind]
    assert server.book.positions["AAPL"][0] == Decimal(3), "filled exactly once"


def test_rate_limit_retry_after_past_the_deadline_is_not_sent(server: FakeAlpacaServer, broker: AlpacaBroker) -> None:
    """A 429 whose Retry-After (30 s) ends after the 4 s deadline: refused at once as NOT SENT, nothing placed."""
    server.inject("POST", "/v2/orders", "429", headers={"Retry-After": "30"})
    started = time.monotonic()
    with pytest.raises(BrokerNotSent, match="not sent") as info:
        broker.submit_order(buy("rl-1"))
    assert time.monotonic() - started < 0.5, "does not sleep into a wait it cannot finish"
    assert "Alpaca asked to wait" in str(info.value)
    assert server.hits_for("POST", "/v2/orders") == 1 and server.book.orders_for("rl-1") == []
    budget = broker.rate_budget()
    assert budget["http_429"] == 1 and 29.0 < budget["blocked_for_s"] <= 30.0
    with pytest.raises(BrokerNotSent):  # every call with this key now waits for Alpaca's window, none is sent
        broker.get_account()
    assert server.hits_for("GET", "/v2/account") == 0


def test_submit_timeout_then_late_commit_yields_one_order(server: FakeAlpacaServer) -> None:
    broker = make_broker(server, timeout_s=0.3)
    server.inject("POST", "/v2/orders", "delay", delay_s=0.8)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="outcome unknown.*no order with this client order id yet") as info:
        broker.submit_order(buy("slow-1"))
    assert not isinstance(info.value, BrokerNotSent), "a request that may have arrived is never called not sent"
    assert time.monotonic() - started < broker.deadline_s + 0.5
    time.sleep(0.8)  # the server commits the order after the client gave up
    assert len(server.book.orders_for("slow-1")) == 1
    order = broker.submit_order(buy("slow-1"))  # gateway retry, same id: duplicate -> lookup
    assert order.broker_order_id == server.book.orders_for("slow-1")[0].id
    assert len(server.book.orders_for("slow-1")) == 1


def test_duplicate_client_id_returns_existing_order(server: FakeAlpacaServer, broker: AlpacaBroker) -> None:
    first = broker.submit_order(buy("dup-1"))
    again = broker.submit_order(buy("dup-1"))
    assert again.broker_order_id == first.broker_order_id
    assert len(server.book.orders_for("dup-1")) == 1
    with pytest.raises(OrderRejected, match="different order"):
        broker.submit_order(buy("dup-1", qty="7"))


def test_lookup_itself_faulted_is_retried(server: FakeAlpacaServer, broker: AlpacaBroker) -> None:
    server.inject("POST", "/v2/orders", "commit_then_drop")
    server.inject("GET", "/v2/orders:by_client_order_id", "500", times=2)
    order = broker.submit_order(buy("lk-1"))
    assert order.client_order_id == "lk-1" and len(server.book.orders_for("lk-1")) == 1
    assert server.hits_for("GET", "/v2/orders:by_client_order_id") == 3


def test_sdk_retries_are_off_a_lost_504_is_resolved_by_lookup(server: FakeAlpacaServer) -> None:
    """alpaca-py would resend POST /v2/orders 3 s after a 504; with its retries off the lookup finds the order at once."""
    broker = make_broker(server, timeout_s=2.0)
    assert broker._client._retry == 0 and broker._client._retry_codes == []
    server.inject("POST", "/v2/orders", "commit_then_504")
    started = time.monotonic()
    order = broker.submit_order(buy("sdk-1"))
    assert time.monotonic() - started < 1.0
    assert server.hits_for("POST", "/v2/orders") == 1
    assert len(server.book.orders_for("sdk-1")) == 1 and order.client_order_id == "sdk-1"


@pytest.mark.parametrize("kind", ["429", "500", "504", "drop"])
def test_idempotent_reads_retry_through_single_faults(server: FakeAlpacaServer, broker: AlpacaBroker, kind: str) -> None:
    server.inject("GET", "/v2/positions", kind)
    server.inject("DELETE", "/v2/orders", kind)
    assert broker.get_positions() == []
    assert broker.cancel_all_orders() == []
    assert broker.breaker_state() == "closed"


# ---- timeouts and the circuit breaker ------------------------------------------------------------
def test_hung_endpoint_returns_within_timeout(server: FakeAlpacaServer) -> None:
    broker = make_broker(server, timeout_s=0.4, retry_attempts=1)
    server.inject("GET", "/v2/account", "delay", delay_s=3.0)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="timeout"):
        broker.get_account()
    assert time.monotonic() - started < 0.4 + 0.3
    broker3 = make_broker(server, timeout_s=0.4, retry_attempts=3, deadline_s=1.0)
    server.inject("GET", "/v2/account", "delay", times=3, delay_s=3.0)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        broker3.get_account()
    assert time.monotonic() - started < 1.0 + 0.5, "bounded by the call's deadline, whatever the attempts"


class Transitions(pybreaker.CircuitBreakerListener):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def state_change(self, cb: pybreaker.CircuitBreaker, old: object, new: pybreaker.CircuitBreakerState) -> None:
        self.seen.append(new.name)


def test_breaker_opens_fails_fast_and_recovers(server: FakeAlpacaServer) -> None:
    listener = Transitions()
    breaker = pybreaker.CircuitBreaker(fail_max=3, reset_timeout=0.5, listeners=[listener])
    broker = make_broker(server, breaker=breaker, retry_attempts=2)
    server.inject("GET", "/v2/account", "500", times=100)
    with pytest.raises(BrokerUnavailable):
        broker.get_account()  # 2 failures
    with pytest.raises(BrokerUnavailable):
        broker.get_account()  # third failure trips; the retry then fails fast
    assert broker.breaker_state() == "open"
    assert check_broker(SimpleNamespace(broker=broker)).status == DEGRADED  # type: ignore[arg-type]
    hits = server.total_hits()
    assert hits == 3
    started = time.monotonic()
    for _ in range(20):
        with pytest.raises(AlpacaCircuitOpen, match="circuit breaker is open"):
            broker.get_account()
    with pytest.raises(AlpacaCircuitOpen):
        broker.submit_order(buy("cb-1"))
    assert time.monotonic() - started < 0.2, "fails fast"
    assert server.total_hits() == hits, "nothing reached the server while open"
    server.clear_faults()
    time.sleep(0.55)
    assert broker.get_account().cash == Decimal("100000")
    assert broker.breaker_state() == "closed"
    assert check_broker(SimpleNamespace(broker=broker)).status == HEALTHY  # type: ignore[arg-type]
    assert listener.seen == ["open", "half-open", "closed"]
    assert broker.submit_order(buy("cb-1")).status is OrderStatus.FILLED


def test_rejections_do_not_trip_the_breaker(server: FakeAlpacaServer) -> None:
    broker = make_broker(server, breaker=pybreaker.CircuitBreaker(fail_max=2, reset_timeout=60))
    server.book.reject_symbols.add("GME")
    for i in range(5):
        with pytest.raises(OrderRejected):
            broker.submit_order(buy(f"rj-{i}", symbol="GME"))
    assert broker.breaker_state() == "closed"


def test_no_secret_in_logs_or_errors_under_faults(server: FakeAlpacaServer, broker: AlpacaBroker,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    messages: list[str] = []
    for i, kind in enumerate(["500", "drop", "commit_then_drop", "commit_then_504", "429"]):
        server.inject("POST", "/v2/orders", kind)
        try:
            broker.submit_order(buy(f"log-{i}"))
        except BrokerUnavailable as exc:
            messages.append(repr(exc))
    server.inject("GET", "/v2/account", "500", times=5)
    with pytest.raises(BrokerUnavailable) as info:
        broker.get_account()
    messages.append(repr(info.value))
    text = "\n".join(messages + [r.getMessage() for r in caplog.records] + [caplog.text])
    assert "outcome unknown" in text, "the unknown-outcome path was exercised and logged"
    assert SECRET not in text and KEY not in text


def test_one_broker_shared_by_threads(server: FakeAlpacaServer, broker: AlpacaBroker) -> None:
    """The engine's jobs and a web-side kill switch may share one adapter (embedded mode)."""
    from concurrent.futures import ThreadPoolExecutor

    def work(t: int) -> list[str]:
        return [broker.submit_order(buy(f"t{t}-{i}", limit="1")).client_order_id for i in range(25)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        done = [cid for ids in pool.map(work, range(8)) for cid in ids]
        cancels = pool.submit(broker.cancel_all_orders)
        reads = [pool.submit(broker.get_account) for _ in range(8)]
    assert len(set(done)) == 200 and len(server.book.orders) == 200
    assert all(r.result().cash == Decimal("100000") for r in reads)
    assert all(r.ok for r in cancels.result()) and broker.list_open_orders() == []
