"""AlpacaTradeUpdates (alpaca-py TradingStream) against the fake trade-updates websocket."""
from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from engine.trading.brokers.alpaca import AlpacaBroker
from engine.trading.brokers.alpaca_stream import AlpacaTradeUpdates, TradeUpdate
from engine.trading.brokers.base import BrokerError, OrderRequest, OrderSide, OrderStatus, OrderType
from tests.fake_alpaca import FakeAlpacaServer
from tests.waiting import wait_for


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(stream=True) as srv:
        yield srv


@pytest.fixture
def updates(server: FakeAlpacaServer) -> Iterator[tuple[AlpacaTradeUpdates, list[TradeUpdate]]]:
    got: list[TradeUpdate] = []
    stream = AlpacaTradeUpdates(server.key_id, server.secret_key, got.append, url_override=server.stream_url)
    stream.start()
    assert server.stream is not None and wait_for(lambda: server.stream.client_count() == 1)
    yield stream, got
    assert stream.stop(timeout_s=3.0), "the stream thread must end"


def test_order_events_arrive_and_map(server: FakeAlpacaServer, updates: tuple[AlpacaTradeUpdates, list[TradeUpdate]]) -> None:
    stream, got = updates
    broker = AlpacaBroker(server.key_id, server.secret_key, url_override=server.url, timeout_s=1.0)
    broker.submit_order(OrderRequest("su-1", "AAPL", OrderSide.BUY, Decimal(2)))
    resting = broker.submit_order(OrderRequest("su-2", "MSFT", OrderSide.BUY, Decimal(1), OrderType.LIMIT, Decimal(1)))
    broker.cancel_order(resting.broker_order_id)
    assert wait_for(lambda: len(got) == 4, 2.0), got
    assert [(u.event, u.order.client_order_id, u.order.status) for u in got] == [
        ("new", "su-1", OrderStatus.NEW), ("fill", "su-1", OrderStatus.FILLED),
        ("new", "su-2", OrderStatus.NEW), ("canceled", "su-2", OrderStatus.CANCELED)]
    assert got[1].order.filled_qty == Decimal(2) and stream.updates == 4


def test_stop_is_prompt(server: FakeAlpacaServer) -> None:
    stream = AlpacaTradeUpdates(server.key_id, server.secret_key, lambda u: None, url_override=server.stream_url)
    stream.start()
    assert server.stream is not None and wait_for(lambda: server.stream.client_count() == 1)
    started = time.monotonic()
    assert stream.stop(timeout_s=3.0)
    assert time.monotonic() - started < 1.0 and not stream.running


def test_reconnects_after_the_connection_drops(server: FakeAlpacaServer,
                                               updates: tuple[AlpacaTradeUpdates, list[TradeUpdate]]) -> None:
    _, got = updates
    assert server.stream is not None
    server.stream.drop_clients()
    assert wait_for(lambda: server.stream.connections == 2 and server.stream.client_count() == 1, 8.0)
    server.book.submit({"symbol": "AAPL", "qty": 1, "side": "buy", "type": "market", "client_order_id": "after"})
    assert wait_for(lambda: [u.order.client_order_id for u in got] == ["after", "after"], 2.0)


def test_a_failing_consumer_does_not_kill_the_stream(server: FakeAlpacaServer) -> None:
    seen: list[str] = []

    def consumer(u: TradeUpdate) -> None:
        seen.append(u.event)
        raise RuntimeError("consumer bug")

    stream = AlpacaTradeUpdates(server.key_id, server.secret_key, consumer, url_override=server.stream_url)
    stream.start()
    assert server.stream is not None and wait_for(lambda: server.stream.client_count() == 1)
    server.book.submit({"symbol": "AAPL", "qty": 1, "side": "buy", "type": "market", "client_order_id": "x"})
    assert wait_for(lambda: seen == ["new", "fill"], 2.0)
    assert stream.running
    assert stream.stop(timeout_s=3.0)


def test_wrong_keys_never_listen_and_still_stop(server: FakeAlpacaServer) -> None:
    stream = AlpacaTradeUpdates(server.key_id, "wrong", lambda u: None, url_override=server.stream_url)
    stream.start()
    time.sleep(0.3)
    assert server.stream is not None and server.stream.client_count() == 0
    assert stream.stop(timeout_s=3.0)


def test_live_stream_needs_opt_in() -> None:
    with pytest.raises(BrokerError, match="REGIMEDESK_ALPACA_LIVE"):
        AlpacaTradeUpdates("k", "s", lambda u: None, paper=False)


def test_build_from_settings(server: FakeAlpacaServer) -> None:
    from types import SimpleNamespace

    from engine.trading.brokers.alpaca_stream import build_alpaca_trade_updates, stream_url_for

    assert stream_url_for("https://paper-api.alpaca.markets/v2") == "wss://paper-api.alpaca.markets/stream"
    assert stream_url_for("http://127.0.0.1:9/") == "ws://127.0.0.1:9/stream" and stream_url_for(None) is None
    got: list[TradeUpdate] = []
    stream = build_alpaca_trade_updates(SimpleNamespace(alpaca_key_id=server.key_id, alpaca_secret_key=server.secret_key,
                                                        alpaca_stream_url=server.stream_url), got.append)
    stream.start()
    assert server.stream is not None and wait_for(lambda: server.stream.client_count() == 1)
    server.book.submit({"symbol": "AAPL", "qty": 1, "side": "buy", "type": "market", "client_order_id": "s"})
    assert wait_for(lambda: len(got) == 2, 2.0)
    assert stream.stop(timeout_s=3.0)
