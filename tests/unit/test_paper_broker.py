"""Paper broker arithmetic and behaviour against a real SQLite store."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from engine.clock import ManualClock
from engine.market.types import Bar
from engine.store.db import Store
from engine.store.migrate import open_store
from engine.store.models import BarRow, Instrument
from engine.trading.brokers.base import BrokerError, OrderRequest, OrderSide, OrderStatus, OrderType
from engine.trading.brokers.paper import PaperBroker
from engine.trading.brokers.paper_books import apply_fill

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
D = Decimal


@pytest.fixture()
def store(tmp_path) -> Store:
    s = open_store(f"sqlite:///{tmp_path}/t.db", migrate=True)
    yield s
    s.dispose()


def bar(symbol: str, minute: int, o: float, h: float | None = None, low: float | None = None,
        c: float | None = None, v: float = 1_000_000) -> Bar:
    return Bar(symbol, T0 + timedelta(minutes=minute), o, h if h is not None else o + 1,
               low if low is not None else o - 1, c if c is not None else o, v)


def put_bars(store: Store, bars: list[Bar]) -> None:
    with store.write() as s:
        for b in bars:
            s.add(BarRow(symbol=b.symbol, ts=b.ts, open=b.open, high=b.high, low=b.low, close=b.close, volume=b.volume))


def step(store: Store, broker: PaperBroker, bars: list[Bar]) -> None:
    """What the market job does each tick: store the bars, then let the broker match."""
    put_bars(store, bars)
    broker.process_bars(bars)


def make(store: Store, clock: ManualClock | None = None, **kw) -> PaperBroker:
    args = dict(starting_cash=D(100_000), slippage_bps=D(10), commission_per_share=D("0.01"), participation=D("0.5"))
    args.update(kw)
    return PaperBroker(store, clock or ManualClock(T0), **args)


def req(coid: str, side: str, qty: str, symbol: str = "AAA", order_type: str = "market",
        limit: str | None = None) -> OrderRequest:
    return OrderRequest(coid, symbol, OrderSide(side), D(qty), OrderType(order_type),
                        D(limit) if limit is not None else None)


def test_market_buy_fills_at_open_plus_slippage_and_pays_commission(store):
    broker = make(store)
    put_bars(store, [bar("AAA", 0, 100.0)])
    order = broker.submit_order(req("c1", "buy", "100"))
    assert order.status is OrderStatus.NEW
    step(store, broker, [bar("AAA", 1, 100.0, c=101.0)])
    got = broker.get_order_by_client_id("c1")
    assert got.status is OrderStatus.FILLED and got.filled_qty == 100
    assert got.filled_avg_price == D("100.1")  # 10 bps against the buyer
    acct = broker.get_account()
    assert acct.cash == D(100_000) - D("10010") - D("1")  # notional + 100 x 0.01 commission
    assert acct.equity == acct.cash + 100 * D(101)
    [pos] = broker.get_positions()
    assert (pos.symbol, pos.qty, pos.avg_entry_price, pos.market_price) == ("AAA", D(100), D("100.1"), D(101))


def test_sell_slippage_goes_against_the_seller_and_realizes_pnl(store):
    broker = make(store)
    put_bars(store, [bar("AAA", 0, 100.0)])
    broker.submit_order(req("b", "buy", "10"))
    step(store, broker, [bar("AAA", 1, 100.0)])
    broker.submit_order(req("s", "sell", "4"))
    step(store, broker, [bar("AAA", 2, 110.0)])
    sold = broker.get_order_by_client_id("s")
    assert sold.filled_avg_price == D("109.89")
    realized, commissions = broker.realized_pnl()
    assert realized == D(4) * (D("109.89") - D("100.1"))
    assert commissions == D("0.14")
    [pos] = broker.get_positions()
    assert pos.qty == 6 and pos.avg_entry_price == D("100.1")  # average unchanged by a reduction


def test_short_then_flip_to_long_books_realized_pnl_and_new_average(store):
    broker = make(store, slippage_bps=D(0), commission_per_share=D(0))
    put_bars(store, [bar("AAA", 0, 50.0)])
    broker.submit_order(req("s1", "sell", "10"))
    step(store, broker, [bar("AAA", 1, 50.0)])
    [pos] = broker.get_positions()
    assert pos.qty == -10 and pos.avg_entry_price == 50
    assert broker.get_account().cash == D(100_000) + D(500)  # short proceeds
    broker.submit_order(req("b1", "buy", "15"))
    step(store, broker, [bar("AAA", 2, 45.0)])
    [pos] = broker.get_positions()
    assert pos.qty == 5 and pos.avg_entry_price == 45  # flipped: remainder opens at the fill price
    assert broker.realized_pnl()[0] == D(50)  # 10 x (50 - 45) on the short
    assert broker.get_account().equity == D(100_000) + D(50)


def test_apply_fill_averages_additions():
    change = apply_fill(D(10), D(100), D(30), D(104))
    assert change.qty == 40 and change.avg_entry_price == D(103) and change.realized_pnl == 0


def test_large_order_fills_partially_across_bars_capped_by_participation(store):
    broker = make(store, participation=D("0.1"))
    put_bars(store, [bar("AAA", 0, 10.0)])
    broker.submit_order(req("big", "buy", "250"))
    step(store, broker, [bar("AAA", 1, 10.0, v=1000)])
    first = broker.get_order_by_client_id("big")
    assert first.status is OrderStatus.PARTIALLY_FILLED and first.filled_qty == 100
    step(store, broker, [bar("AAA", 2, 10.0, v=1000)])
    assert broker.get_order_by_client_id("big").filled_qty == 200
    step(store, broker, [bar("AAA", 3, 10.0, v=1000)])
    done = broker.get_order_by_client_id("big")
    assert done.status is OrderStatus.FILLED and done.filled_qty == 250
    assert len(broker.fills_since(T0)) == 3


def test_limit_buy_waits_until_the_bar_trades_through_and_gets_the_better_open(store):
    broker = make(store)
    put_bars(store, [bar("AAA", 0, 100.0)])
    broker.submit_order(req("lb", "buy", "10", order_type="limit", limit="95"))
    step(store, broker, [bar("AAA", 1, 100.0, h=101, low=96)])  # never reaches 95
    assert broker.get_order_by_client_id("lb").status is OrderStatus.NEW
    step(store, broker, [bar("AAA", 2, 97.0, h=98, low=94)])  # trades through: fill at the limit
    assert broker.get_order_by_client_id("lb").filled_avg_price == D(95)
    broker.submit_order(req("lb2", "buy", "10", order_type="limit", limit="95"))
    step(store, broker, [bar("AAA", 3, 93.0, h=94, low=92)])  # gaps below: the open is better
    assert broker.get_order_by_client_id("lb2").filled_avg_price == D(93)


def test_limit_sell_fills_at_limit_or_better_open(store):
    broker = make(store)
    put_bars(store, [bar("AAA", 0, 100.0)])
    broker.submit_order(req("ls", "sell", "5", order_type="limit", limit="105"))
    step(store, broker, [bar("AAA", 1, 100.0, h=104, low=99)])
    assert broker.get_order_by_client_id("ls").status is OrderStatus.NEW
    step(store, broker, [bar("AAA", 2, 107.0, h=108, low=106)])
    assert broker.get_order_by_client_id("ls").filled_avg_price == D(107)


@pytest.mark.parametrize(
    ("request_", "reason_part"),
    [
        (req("r1", "buy", "10", symbol="ZZZ"), "unknown symbol ZZZ"),
        (req("r2", "buy", "0"), "quantity must be positive"),
        (req("r3", "buy", "-5"), "quantity must be positive"),
        (req("r4", "buy", "10", order_type="limit"), "needs a positive limit price"),
        (req("r5", "buy", "3000"), "insufficient buying power"),  # 3000 x 100 > 2 x 100k
    ],
)
def test_rejections_carry_a_reason(store, request_, reason_part):
    broker = make(store)
    put_bars(store, [bar("AAA", 0, 100.0)])
    order = broker.submit_order(request_)
    assert order.status is OrderStatus.REJECTED
    assert reason_part in order.reject_reason
    assert broker.list_open_orders() == []


def test_known_instrument_without_price_is_rejected_with_wait_advice(store):
    broker = make(store)
    with store.write() as s:
        s.add(Instrument(symbol="NEW", kind="stock", has_options=False, source="simulated"))
    order = broker.submit_order(req("n", "buy", "1", symbol="NEW"))
    assert order.status is OrderStatus.REJECTED and "no price yet for NEW" in order.reject_reason


def test_buying_power_counts_open_orders(store):
    broker = make(store)
    put_bars(store, [bar("AAA", 0, 100.0)])
    assert broker.submit_order(req("a", "buy", "1500")).status is OrderStatus.NEW
    second = broker.submit_order(req("b", "buy", "600"))  # 1500 + 600 = 2100 x 100 > 200k
    assert second.status is OrderStatus.REJECTED
    assert broker.submit_order(req("c", "sell", "500")).status is OrderStatus.NEW  # short side: not netted


def test_same_client_order_id_returns_the_existing_order(store):
    broker = make(store)
    put_bars(store, [bar("AAA", 0, 100.0)])
    first = broker.submit_order(req("same", "buy", "10"))
    again = broker.submit_order(req("same", "buy", "10"))
    assert again.broker_order_id == first.broker_order_id
    assert len(broker.list_open_orders()) == 1


def test_restart_continues_on_the_same_database(store, tmp_path):
    broker = make(store)
    put_bars(store, [bar("AAA", 0, 100.0)])
    broker.submit_order(req("x", "buy", "10"))
    step(store, broker, [bar("AAA", 1, 100.0)])
    broker.submit_order(req("y", "buy", "5"))  # still open at the "crash"
    before = broker.get_account()
    store.dispose()

    reopened = open_store(f"sqlite:///{tmp_path}/t.db", migrate=True)
    again = make(reopened, starting_cash=D(1))  # the stored books win over a new starting cash
    assert again.get_account() == before
    assert [o.client_order_id for o in again.list_open_orders()] == ["y"]
    step(reopened, again, [bar("AAA", 2, 100.0)])
    [pos] = again.get_positions()
    assert pos.qty == 15
    reopened.dispose()


def test_cancel_one_and_cancel_all(store):
    clock = ManualClock(T0)
    broker = make(store, clock)
    put_bars(store, [bar("AAA", 0, 100.0)])
    orders = [broker.submit_order(req(f"o{i}", "buy", "1", order_type="limit", limit="50")) for i in range(100)]
    broker.cancel_order(orders[0].broker_order_id)
    with pytest.raises(BrokerError, match="cannot be canceled"):
        broker.cancel_order(orders[0].broker_order_id)
    clock.advance(1)
    results = broker.cancel_all_orders()  # its time: python -m bench.bench_kill_switch
    assert len(results) == 99 and all(r.ok for r in results)
    assert broker.list_open_orders() == []
    assert len(broker.list_orders_since(T0 + timedelta(seconds=1))) == 99


def test_close_all_positions_sends_market_orders_to_flat(store):
    broker = make(store)
    put_bars(store, [bar("AAA", 0, 100.0), bar("BBB", 0, 20.0)])
    broker.submit_order(req("l", "buy", "10"))
    broker.submit_order(req("s", "sell", "30", symbol="BBB"))
    step(store, broker, [bar("AAA", 1, 100.0), bar("BBB", 1, 20.0)])
    broker.submit_order(req("pending", "buy", "1", order_type="limit", limit="1"))
    closing = broker.close_all_positions()
    assert sorted((o.symbol, o.side.value, o.qty) for o in closing) == [("AAA", "sell", 10), ("BBB", "buy", 30)]
    assert broker.get_order_by_client_id("pending").status is OrderStatus.CANCELED
    step(store, broker, [bar("AAA", 2, 100.0), bar("BBB", 2, 20.0)])
    assert broker.get_positions() == []
    assert broker.is_market_open()
