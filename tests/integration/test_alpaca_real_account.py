"""Issue 13, Alpaca for a real account, over real HTTP on 127.0.0.1 against the fake Alpaca server.

Rejections keep Alpaca's words (order row, audit log); unknown outcomes are resolved by a lookup;
every call ends by its deadline under each fault; the shared rate limiter obeys Alpaca's headers and
keeps an hour of simulated steady state under the configured rate; option chains are filtered, paged,
cached and skipped without a spot; sessions come from Alpaca's clock; order types are shown as they are.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.market.alpaca_source import AlpacaMarketSource, data_url_for
from engine.market.types import MarketDataError
from engine.settings import load_settings
from engine.store.migrate import open_store
from engine.store.models import AuditEvent, OrderRow
from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.brokers.alpaca_http import Failure, classify
from engine.trading.brokers.alpaca_limits import RateLimiter
from engine.trading.brokers.base import (
    BrokerNotSent,
    BrokerUnavailable,
    OrderRejected,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
)
from engine.trading.gateway import OrderIntent, submit
from engine.trading.sync import sync_from_broker
from tests.fake_alpaca import FakeAlpacaServer
from tests.fake_alpaca.book import FakeOrder
from tests.fake_alpaca.traffic import RecordingLimiter, requests_per_minute, run_hour
from tests.trading_control_fixtures import LOOSE, T0, broker_context, seed_market
from tests.waiting import wait_for

D = Decimal
KEY, SECRET = "real-key", "real-secret-never-shown"


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as srv:
        yield srv


def make_broker(srv: FakeAlpacaServer, **kw: object) -> AlpacaBroker:
    opts: dict[str, object] = {"timeout_s": 0.5, "retry_wait_s": 0.01, "retry_max_wait_s": 0.05, "deadline_s": 1.0,
                               "limiter": RateLimiter(per_minute=60_000, burst=1000)}
    opts.update(kw)
    return AlpacaBroker(KEY, SECRET, paper=True, url_override=srv.url, **opts)  # type: ignore[arg-type]


@pytest.fixture
def ctx(tmp_path, any_db_url: str, server: FakeAlpacaServer) -> Iterator[EngineContext]:
    with broker_context(tmp_path, any_db_url, lambda _clock: make_broker(server), LOOSE) as context:
        yield context


def buy(symbol: str = "AAA", key: str = "k1", qty: int = 5) -> OrderIntent:
    return OrderIntent(symbol, OrderSide.BUY, D(qty), OrderType.MARKET, None, reason="test", idempotency_key=key)


def row_and_audit(ctx: EngineContext, coid: str) -> tuple[OrderRow, list[AuditEvent]]:
    with ctx.store.read() as s:
        row = s.scalars(select(OrderRow).where(OrderRow.client_order_id == coid)).one()
        events = [e for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "order.rejected"))
                  if e.details.get("client_order_id") == coid]
        s.expunge_all()
    return row, events


# ---- 1. errors classified by status and message; Alpaca's words kept ----------------------------------
REJECTIONS = {  # name -> (HTTP status, Alpaca code, Alpaca's message), bodies as Alpaca sends them
    "inactive_asset": (422, 40010001, "asset AAA is not active"),
    "long_client_id": (422, 40010001, "client_order_id must be no more than 128 characters"),
    "buying_power": (403, 40310000, "insufficient buying power"),
    "crypto_type": (422, 40010001, "invalid order type for crypto order"),
}


@pytest.mark.parametrize("name", sorted(REJECTIONS))
def test_a_rejection_keeps_alpacas_words_in_the_order_row_and_audit(ctx: EngineContext, server: FakeAlpacaServer,
                                                                    name: str) -> None:
    status, code, message = REJECTIONS[name]
    server.inject("POST", "/v2/orders", "error", status=status, body={"code": code, "message": message})
    result = submit(ctx, buy(key=name), "planner", "planner", LOOSE)
    row, events = row_and_audit(ctx, result.client_order_id)
    assert not result.accepted and result.check == "broker"
    assert row.status == OrderStatus.REJECTED.value, "shared code 40010001 is no longer read as a duplicate"
    assert f"HTTP {status} code {code}: {message}" in (row.reject_reason or "")
    assert len(events) == 1 and message in events[0].details["reason"]
    assert server.hits_for("POST", "/v2/orders") == 1 and server.hits_for("GET", "/v2/orders:by_client_order_id") == 0
    ctx.clock.advance(timedelta(seconds=45))  # the sync does not overwrite the reason with "never received"
    sync_from_broker(ctx, LOOSE)
    assert message in (row_and_audit(ctx, result.client_order_id)[0].reject_reason or "")


def test_duplicate_only_when_the_message_says_so(server: FakeAlpacaServer) -> None:
    broker = make_broker(server)
    first = broker.submit_order(OrderRequest("dup-x", "AAA", OrderSide.BUY, D(2)))
    again = broker.submit_order(OrderRequest("dup-x", "AAA", OrderSide.BUY, D(2)))  # 422 "must be unique"
    assert again.broker_order_id == first.broker_order_id and len(server.book.orders_for("dup-x")) == 1
    from alpaca.common.exceptions import APIError

    class Resp:
        def __init__(self, status: int) -> None:
            self.status_code = status

    class HttpErr(Exception):
        def __init__(self, status: int) -> None:
            self.response = Resp(status)

    def err(status: int, message: str) -> APIError:
        return APIError(f'{{"code": 40010001, "message": "{message}"}}', HttpErr(status))

    assert classify(err(422, "client_order_id must be unique")) is Failure.DUPLICATE
    assert classify(err(422, "asset AAA is not active")) is Failure.REJECTED
    assert classify(err(429, "rate limit exceeded")) is Failure.RATE_LIMITED


def test_a_stalled_submit_later_accepted_is_unknown_then_found(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    """The request stalls past the 1 s deadline and Alpaca accepts it afterwards: reported unknown, never
    "not accepted"; the sync finds it by client order id; nothing is resubmitted."""
    server.inject("POST", "/v2/orders", "stall", delay_s=1.5)
    started = time.monotonic()
    result = submit(ctx, buy(key="stall"), "planner", "planner", LOOSE)
    assert time.monotonic() - started < 1.0 + 0.5
    assert result.accepted and result.status is OrderStatus.PENDING_NEW
    assert "outcome unknown" in (result.reason or "") and "not accepted" not in (result.reason or "")
    # the server commits it once its 1.5 s stall ends (bounded wait: a loaded machine delays its thread)
    assert wait_for(lambda: len(server.book.orders_for(result.client_order_id)) == 1, timeout_s=10.0)
    ctx.clock.advance(timedelta(seconds=45))
    sync_from_broker(ctx, LOOSE)
    row, events = row_and_audit(ctx, result.client_order_id)
    assert row.status == OrderStatus.FILLED.value and events == []
    assert server.hits_for("POST", "/v2/orders") == 1


def test_not_sent_is_certain_and_keeps_its_reason(ctx: EngineContext, server: FakeAlpacaServer) -> None:
    server.inject("POST", "/v2/orders", "429", headers={"Retry-After": "20"})
    result = submit(ctx, buy(key="ra"), "planner", "planner", LOOSE)
    row, events = row_and_audit(ctx, result.client_order_id)
    assert row.status == OrderStatus.REJECTED.value and "not sent" in (row.reject_reason or "")
    assert "Alpaca asked to wait" in (row.reject_reason or "") and len(events) == 1
    assert server.book.orders_for(result.client_order_id) == []


# ---- 2. a total deadline per call, whatever the fault -------------------------------------------------------
CALL_FAULTS = {  # fault -> inject(...) keyword arguments
    "stall": {"kind": "stall", "delay_s": 5.0, "times": 10},
    "504s": {"kind": "504", "times": 50},
    "429s": {"kind": "429", "times": 50},
    "retry_after": {"kind": "429", "times": 50, "headers": {"Retry-After": "30"}},
    "drops": {"kind": "drop", "times": 50},
    "500s": {"kind": "500", "times": 50},
}


@pytest.mark.parametrize("fault", sorted(CALL_FAULTS))
def test_no_call_exceeds_its_deadline(server: FakeAlpacaServer, fault: str) -> None:
    deadline = 1.0
    spec = dict(CALL_FAULTS[fault])
    kind = str(spec.pop("kind"))
    calls = {
        ("GET", "/v2/account"): lambda b, s: b.get_account(),
        ("POST", "/v2/orders"): lambda b, s: b.submit_order(OrderRequest(f"dl-{fault}", "AAA", OrderSide.BUY, D(1))),
        ("DELETE", "/v2/orders"): lambda b, s: b.cancel_all_orders(),
        ("GET", "/v2/stocks/bars"): lambda b, s: s.poll(),
    }
    worst = 0.0
    for (method, path), call in calls.items():
        server.clear_faults()
        server.inject(method, path, kind, **spec)  # type: ignore[arg-type]
        limiter = RateLimiter(per_minute=60_000, burst=1000)
        broker = make_broker(server, deadline_s=deadline, limiter=limiter)
        source = AlpacaMarketSource(KEY, SECRET, ["AAA"], "SPY", server.url, timeout_s=0.5, deadline_s=deadline,
                                    clock=ManualClock(T0), limiter=limiter)
        started = time.monotonic()
        with pytest.raises((BrokerUnavailable, MarketDataError)):
            call(broker, source)
        elapsed = time.monotonic() - started
        worst = max(worst, elapsed)
        assert elapsed <= deadline + 0.5, f"{method} {path} under {fault}: {elapsed:.2f} s"
    print(f"\nworst call under {fault}: {worst:.2f} s against a {deadline:.1f} s deadline")


# ---- 3. the rate limiter ---------------------------------------------------------------------------------------
def test_alpacas_rate_headers_hold_every_client_of_the_key() -> None:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET, rate_limit_per_minute=5) as srv:
        limiter = RateLimiter(per_minute=1000, burst=100)  # the local bucket alone would allow far more
        broker = make_broker(srv, limiter=limiter)
        source = AlpacaMarketSource(KEY, SECRET, ["AAA"], "SPY", srv.url, timeout_s=0.5, deadline_s=1.0,
                                    clock=ManualClock(T0), limiter=limiter)
        for _ in range(5):
            broker.get_account()
        snap = limiter.snapshot()
        assert snap["server_limit"] == 5 and snap["server_remaining"] == 0 and snap["blocked_for_s"] > 1.0
        started = time.monotonic()
        with pytest.raises(BrokerNotSent, match="Alpaca asked to wait"):
            broker.get_account()
        with pytest.raises(MarketDataError, match="Alpaca asked to wait"):
            source.poll()
        assert time.monotonic() - started < 0.5, "refused at once: the wait is past the deadline"
        assert srv.total_hits() == 5 and srv.rate_limited == 0, "no request reached Alpaca to be refused"


def test_a_429_with_retry_after_is_waited_out_within_the_deadline(server: FakeAlpacaServer) -> None:
    limiter = RateLimiter(per_minute=60_000, burst=1000)
    broker = make_broker(server, limiter=limiter, deadline_s=3.0)
    server.inject("GET", "/v2/positions", "429", headers={"Retry-After": "1"})
    started = time.monotonic()
    assert broker.get_positions() == []
    elapsed = time.monotonic() - started
    assert 0.95 <= elapsed < 3.0, f"waited for Retry-After: {elapsed:.2f} s"  # at least Retry-After, within the deadline
    assert server.hits_for("GET", "/v2/positions") == 2 and limiter.snapshot()["http_429"] == 1
    assert broker.breaker_state() == "closed", "a 429 is not a failure of Alpaca"


def simulated_hour(server: FakeAlpacaServer, per_minute: float, poll_s: float, sync_s: float,
                   chain_s: float) -> tuple[list[int], dict[str, object]]:
    """The engine's Alpaca traffic for one simulated hour: bars every poll_s, a chain every chain_s, the
    broker sync (account, positions, orders, fills) every sync_s. Returns requests per simulated minute."""
    clock = ManualClock(datetime(2026, 3, 2, 14, 30, tzinfo=UTC))
    limiter = RecordingLimiter(per_minute=per_minute, monotonic=lambda: clock.now().timestamp(),
                        wall=lambda: clock.now().timestamp(), sleep=clock.advance)
    broker = make_broker(server, limiter=limiter, clock=clock, deadline_s=120.0)
    source = AlpacaMarketSource(KEY, SECRET, ["AAA", "BBB"], "SPY", server.url, timeout_s=1.0, deadline_s=120.0,
                                clock=clock, limiter=limiter, option_underlyings=["SPY"], chain_seconds=chain_s)
    server.book.add_bar("SPY", clock.now() - timedelta(minutes=2), 500, 501, 499, 500, 1000)
    hits_before = server.total_hits()
    start = run_hour(clock, source, broker, poll_s, sync_s)
    assert len(limiter.stamps) == server.total_hits() - hits_before, "every request took a slot"
    per_min = requests_per_minute(limiter.stamps, start)
    stamps = limiter.stamps
    j = 0
    sliding = 0
    for i, t in enumerate(stamps):  # the busiest 60 s window anywhere in the hour
        while stamps[j] <= t - 60.0:
            j += 1
        sliding = max(sliding, i - j + 1)
    return per_min, {**limiter.snapshot(), "busiest_60s": sliding}


def test_an_hour_of_steady_state_stays_under_half_the_limit(server: FakeAlpacaServer) -> None:
    """Default periods (bars every 10 s, sync every 10 s, chain every 60 s) against the default 120/min."""
    per_min, snap = simulated_hour(server, per_minute=120, poll_s=10, sync_s=10, chain_s=60)
    assert len(per_min) == 60
    # hand count per minute: 6 bar polls + 1 chain + 6 syncs x 5 requests (account, positions, fill activities
    # and orders for list_orders_since, fill activities again for fills_since) = 37
    assert per_min == [37] * 60
    assert max(per_min) <= 60 and snap["busiest_60s"] <= 60, f"peak {max(per_min)}/min is over 50% of 120"
    assert snap["refused"] == 0 and snap["throttled"] == 0
    print(f"\nsteady state: {sum(per_min) / 60:.1f} requests/min on average, peak {max(per_min)}/min (limit 120)")


def test_demand_over_the_limit_is_paced_to_the_limit(server: FakeAlpacaServer) -> None:
    """Bars every second and a sync every 2 s want ~180/min; the bucket holds the hour to 30/min (+ its burst)."""
    per_min, snap = simulated_hour(server, per_minute=30, poll_s=1, sync_s=2, chain_s=60)
    assert len(per_min) == 60
    assert max(per_min) <= 30 + 3, f"a simulated minute had {max(per_min)} requests"
    assert snap["busiest_60s"] <= 30 + 3, "no 60 s window anywhere over the rate plus the burst of 3"
    assert sum(per_min) <= 30 * 60 + 3
    assert snap["throttled"] > 0


# ---- 4. option chains and warm-up --------------------------------------------------------------------------------
def snapshot(bid: float, ask: float) -> dict[str, object]:
    ts = T0.isoformat().replace("+00:00", "Z")
    return {"greeks": {"delta": 0.5, "gamma": 0.02, "rho": 0.01, "theta": -0.05, "vega": 0.12},
            "impliedVolatility": 0.2,
            "latestQuote": {"t": ts, "ax": "C", "ap": ask, "as": 5, "bx": "C", "bp": bid, "bs": 7, "c": "A"},
            "latestTrade": {"t": ts, "x": "C", "p": (bid + ask) / 2, "s": 1, "c": "I"}}


def test_chain_filtered_paged_and_cached(server: FakeAlpacaServer) -> None:
    now = datetime(2026, 3, 2, 14, 32, tzinfo=UTC)
    clock = ManualClock(now)
    for i in range(2):
        server.book.add_bar("SPY", now - timedelta(minutes=2 - i), 500, 501, 499, 501.5, 1000)
    server.page_size = 2  # paging: three matching contracts over pages of two
    server.book.snapshots["SPY"] = {
        "SPY260320P00495000": snapshot(7.0, 7.2),  # in: 18 days, strike within ±2% of 501.5 (491.47..511.53)
        "SPY260320C00500000": snapshot(10.0, 10.4),  # in
        "SPY260320C00510000": snapshot(6.0, 6.2),  # in
        "SPY260320C00520000": snapshot(2.0, 2.2),  # out: strike above 511.53
        "SPY260320P00480000": snapshot(1.0, 1.2),  # out: strike below 491.47
        "SPY260417C00500000": snapshot(12.0, 12.4),  # out: 46 days > 45
    }
    src = AlpacaMarketSource(KEY, SECRET, ["AAA"], "SPY", server.url, timeout_s=1.0, clock=clock,
                             option_underlyings=["SPY"], chain_max_days=45, chain_strike_pct=2.0,
                             chain_seconds=60, options_feed="indicative", feed="iex")
    [chain] = src.poll().chains
    assert list(chain.strike) == [495.0, 500.0, 510.0] and chain.spot == 501.5
    params = server.params_of("GET", "/v1beta1/options/snapshots/SPY")
    assert len(params) == 2, "three contracts over pages of two"
    assert params[0]["expiration_date_lte"] == "2026-04-16" and params[0]["expiration_date_gte"] == "2026-03-02"
    assert float(params[0]["strike_price_gte"]) == pytest.approx(491.47)
    assert float(params[0]["strike_price_lte"]) == pytest.approx(511.53)
    assert params[0]["feed"] == "indicative" and server.params_of("GET", "/v2/stocks/bars")[0]["feed"] == "iex"
    clock.advance(30)
    assert src.poll().chains == [], "cached: not refetched within chain_seconds"
    assert len(server.params_of("GET", "/v1beta1/options/snapshots/SPY")) == 2
    clock.advance(31)
    assert len(src.poll().chains) == 1


def test_a_chain_without_spot_is_skipped_and_the_bars_are_stored(any_db_url: str, server: FakeAlpacaServer) -> None:
    from engine import jobs
    from engine.market.types import MarketUpdate, OptionChain
    from engine.store.models import BarRow, OptionChainSnapshot

    clock = ManualClock(datetime(2026, 3, 2, 14, 35, tzinfo=UTC))
    for i in range(3):
        server.book.add_bar("AAA", clock.now() - timedelta(minutes=3 - i), 10, 11, 9, 10.5, 100)
    server.book.snapshots["QQQ"] = {"QQQ260320C00400000": snapshot(1, 2)}
    src = AlpacaMarketSource(KEY, SECRET, ["AAA"], "AAA", server.url, timeout_s=1.0, clock=clock,
                             option_underlyings=["QQQ"])  # QQQ has no bars: its spot is unknown
    update = src.poll()
    assert len(update.bars) == 3 and update.chains == []
    assert "spot is unknown" in src.chain_errors["QQQ"]
    assert server.hits_for("GET", "/v1beta1/options/snapshots/QQQ") == 0, "not even requested"
    store = open_store(any_db_url, migrate=True)
    ctx = EngineContext(settings=load_settings(database_url=any_db_url), store=store,
                        clock=clock, broker=make_broker(server), source=None)
    import numpy as np

    nan_chain = OptionChain(underlying="QQQ", ts=clock.now(), spot=float("nan"), expiry_days=np.array([18.0]),
                            strike=np.array([400.0]), kind=np.array(["C"]), iv=np.array([0.2]), price=np.array([1.5]),
                            delta=np.array([0.5]), gamma=np.array([0.01]), vega=np.array([10.0]),
                            theta=np.array([-5.0]), open_interest=np.array([np.nan]), volume=np.array([np.nan]))
    jobs.store_market_update(ctx, MarketUpdate(bars=update.bars, chains=[nan_chain]), received_at=clock.now())
    with store.read() as s:
        assert len(list(s.scalars(select(BarRow)))) == 3, "the tick's bars are stored"
        assert list(s.scalars(select(OptionChainSnapshot))) == []
    store.dispose()


def test_warm_up_of_9_symbols_x_600_minutes_is_one_request(any_db_url: str) -> None:
    from engine import jobs
    from engine.store.models import BarRow

    symbols = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH"]
    now = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET, page_size=10_000) as srv:
        for sym in [*symbols, "SPY"]:
            for i in range(600):
                srv.book.add_bar(sym, now - timedelta(minutes=600 - i), 10, 11, 9, 10, 100)
        clock = ManualClock(now)
        src = AlpacaMarketSource(KEY, SECRET, symbols, "SPY", srv.url, timeout_s=2.0, deadline_s=8.0, clock=clock,
                                 history=timedelta(hours=10), option_underlyings=[])
        url = any_db_url
        store = open_store(url, migrate=True)
        ctx = EngineContext(settings=load_settings(database_url=url), store=store, clock=clock,
                            broker=make_broker(srv), source=src)
        started = time.monotonic()
        jobs.resume_source(ctx, warmup_polls=600)
        elapsed = time.monotonic() - started
        with store.read() as s:
            assert len(list(s.scalars(select(BarRow.ts)))) == 9 * 600
        assert srv.hits_for("GET", "/v2/stocks/bars") == 1, "5,400 bars in one 10,000-bar page"
        assert srv.params_of("GET", "/v2/stocks/bars")[0]["limit"] == "10000"
        print(f"\nwarm-up 9 x 600 bars: {srv.total_hits()} request(s), {elapsed:.2f} s")
        store.dispose()


# ---- 5. settings ------------------------------------------------------------------------------------------------
def test_data_url_is_separate_from_the_trading_url() -> None:
    from types import SimpleNamespace

    assert data_url_for(SimpleNamespace(alpaca_base_url="https://paper-api.alpaca.markets")) is None
    assert data_url_for(SimpleNamespace(alpaca_base_url="http://127.0.0.1:9999")) == "http://127.0.0.1:9999"
    assert data_url_for(SimpleNamespace(alpaca_base_url="https://paper-api.alpaca.markets",
                                        alpaca_data_url="http://127.0.0.1:7")) == "http://127.0.0.1:7"


# ---- 6. sessions from Alpaca's clock ------------------------------------------------------------------------------
def test_orders_only_in_the_session_or_extended_hours_limits(server: FakeAlpacaServer) -> None:
    server.book.market_open = False
    server.book.next_open = datetime(2026, 3, 3, 14, 30, tzinfo=UTC)
    server.book.clock_now = datetime(2026, 3, 2, 22, 0, tzinfo=UTC)  # 17:00 New York, Monday: after-hours
    closed = make_broker(server)
    with pytest.raises(OrderRejected, match="market is closed.*next open 2026-03-03 14:30 UTC"):
        closed.submit_order(OrderRequest("s-1", "AAA", OrderSide.BUY, D(1)))
    assert server.hits_for("POST", "/v2/orders") == 0 and closed.accepts_orders_now() is False
    clock = ManualClock(server.book.clock_now)  # the 04:00-20:00 window is judged by the engine's clock
    ext = make_broker(server, extended_hours=True, clock=clock)
    with pytest.raises(OrderRejected, match="only limit orders"):
        ext.submit_order(OrderRequest("s-2", "AAA", OrderSide.BUY, D(1)))
    order = ext.submit_order(OrderRequest("s-3", "AAA", OrderSide.BUY, D(1), OrderType.LIMIT, D("90")))
    assert order.status is OrderStatus.NEW and server.book.orders_for("s-3")[0].extended_hours is True
    server.book.clock_now = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)  # 21:00 New York: past 20:00
    clock.advance(timedelta(hours=4))  # 22:00 UTC + 4 h = 02:00 UTC = 21:00 New York
    ext._clock_cache = None
    with pytest.raises(OrderRejected, match="outside Alpaca's extended hours"):
        ext.submit_order(OrderRequest("s-4", "AAA", OrderSide.BUY, D(1), OrderType.LIMIT, D("90")))
    assert server.hits_for("POST", "/v2/orders") == 1
    server.book.market_open = True
    open_broker = make_broker(server)
    assert open_broker.submit_order(OrderRequest("s-5", "AAA", OrderSide.BUY, D(1))).status is OrderStatus.FILLED


# ---- 8. order types as they are; filled_avg_price 0 is "none yet" -----------------------------------------------
def test_stop_orders_shown_as_such_and_zero_average_price_is_none(server: FakeAlpacaServer) -> None:
    now = datetime.now(UTC)
    for i, kind in enumerate(["stop", "stop_limit", "trailing_stop"]):
        oid = f"00000000-0000-4000-8000-00000000000{i}"
        server.book.orders[oid] = FakeOrder(id=oid, client_order_id=f"ext-{kind}", symbol="AAA", side="sell", qty=D(3),
                                            order_type=kind, time_in_force="gtc", limit_price=None, status="new",
                                            created_at=now, updated_at=now, filled_avg_price=D(0))
    broker = make_broker(server)
    got = {o.client_order_id: o for o in broker.list_open_orders()}
    assert got["ext-stop"].order_type is OrderType.STOP
    assert got["ext-stop_limit"].order_type is OrderType.STOP_LIMIT
    assert got["ext-trailing_stop"].order_type is OrderType.TRAILING_STOP
    assert all(o.filled_avg_price is None for o in got.values())
    # RegimeDesk sends stop and trailing-stop orders itself now (native protective exits, issue 17), checked
    # before anything is sent; stop-limit orders it never sends
    posts = server.hits_for("POST", "/v2/orders")
    with pytest.raises(OrderRejected, match="a stop order needs a positive stop price"):
        broker.submit_order(OrderRequest("st-1", "AAA", OrderSide.SELL, D(1), OrderType.STOP))
    with pytest.raises(OrderRejected, match="market, limit, stop and trailing-stop orders only"):
        broker.submit_order(OrderRequest("st-2", "AAA", OrderSide.SELL, D(1), OrderType.STOP_LIMIT))
    assert server.hits_for("POST", "/v2/orders") == posts, "nothing reached Alpaca"


def test_the_trading_page_shows_alpacas_rejection(any_db_url: str, server: FakeAlpacaServer) -> None:
    """The rejection reaches the Trading page's "Rejected orders" section in Alpaca's words."""
    from app import create_app

    url = any_db_url
    settings = load_settings(database_url=url, engine_mode="none")
    store = open_store(url, migrate=True)
    clock = ManualClock(T0)
    seed_market(store, clock)
    context = EngineContext(settings=settings, store=store, clock=clock, broker=make_broker(server), source=None)
    sync_from_broker(context, LOOSE)
    server.inject("POST", "/v2/orders", "error", status=422,
                  body={"code": 40010001, "message": "asset AAA is not active"})
    submit(context, buy(key="page"), "planner", "planner", LOOSE)
    application = create_app(settings, context=context)
    from pages import trading  # pages register themselves with the app: import after create_app

    with application.server.test_request_context("/"):
        outputs, _ = trading.refresh({})
    rendered = str(outputs[trading.SECTIONS.index("rejections")])
    assert "asset AAA is not active" in rendered and "HTTP 422 code 40010001" in rendered
    store.dispose()


def test_a_breaker_opening_mid_retry_never_says_not_sent(server: FakeAlpacaServer) -> None:
    """Two attempts went out and failed, the second opened the breaker, the third found it open: the error
    says two requests were sent (their outcome unknown), not "not sent"."""
    import pybreaker

    broker = make_broker(server, breaker=pybreaker.CircuitBreaker(fail_max=2, reset_timeout=60), retry_attempts=3,
                         deadline_s=3.0)
    server.inject("DELETE", "/v2/orders", "500", times=10)
    with pytest.raises(BrokerUnavailable) as info:
        broker.cancel_all_orders()
    assert server.hits_for("DELETE", "/v2/orders") == 2
    assert not isinstance(info.value, BrokerNotSent)
    assert "2 request(s) sent and failed" in str(info.value) and "not sent" not in str(info.value)
