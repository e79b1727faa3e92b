"""The paper broker's buying-power check projects each symbol as its position plus all its open orders.

Checked against the bare position, five resting sells of 1000 against a 1000 long each looked like a pure
reduction and were all accepted: the position went to -4000, gross 4x equity against the 2x rule. Each side
of a symbol's resting orders is projected on its own (a resting buy must not count on a resting sell
filling), so the 2x rule holds whichever of them fill. Hand-computed: cash 100,000, long 1000 @100 (cash 0,
equity 100,000, gross 100,000), buying power 2 x 100,000 - 100,000 = 100,000.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from engine.clock import ManualClock
from engine.market.types import Bar
from engine.store.db import Store
from engine.store.models import BarRow, Instrument
from engine.trading.brokers.base import OrderRequest, OrderSide, OrderStatus, OrderType
from engine.trading.brokers.paper import PaperBroker
from tests.trading_control_fixtures import make_store

D = Decimal
T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


def step(store: Store, broker: PaperBroker, minute: int, o: float, high: float, low: float, close: float) -> None:
    """Store a bar and let the broker match it, as the market job does."""
    bar = Bar("AAA", T0 + timedelta(minutes=minute), o, high, low, close, 1_000_000)
    with store.write() as s:
        s.add(BarRow(symbol="AAA", ts=bar.ts, open=o, high=high, low=low, close=close, volume=bar.volume))
    broker.process_bars([bar])


def long_1000_at_100(tmp_path, url: str) -> tuple[Store, PaperBroker]:
    store = make_store(tmp_path, url)
    broker = PaperBroker(store, ManualClock(T0), starting_cash=D(100_000), slippage_bps=D(0),
                         commission_per_share=D(0), participation=D(1))
    with store.write() as s:
        s.add(Instrument(symbol="AAA", kind="stock", has_options=False, source="test"))
    step(store, broker, 0, 100.0, 101.0, 99.0, 100.0)
    assert broker.submit_order(OrderRequest("b0", "AAA", OrderSide.BUY, D(1000))).status is OrderStatus.NEW
    step(store, broker, 1, 100.0, 101.0, 99.0, 100.0)
    acct = broker.get_account()
    assert (acct.cash, acct.equity, acct.buying_power) == (D(0), D(100_000), D(100_000))
    return store, broker


def order(broker: PaperBroker, coid: str, side: str, qty: int, limit: str | None = None):  # noqa: ANN201
    kind = OrderType.LIMIT if limit else OrderType.MARKET
    return broker.submit_order(OrderRequest(coid, "AAA", OrderSide(side), D(qty), kind, D(limit) if limit else None))


def test_stacked_sells_against_a_long_stop_at_twice_equity(tmp_path, any_db_url: str) -> None:
    store, broker = long_1000_at_100(tmp_path, any_db_url)
    refused = order(broker, "b1", "buy", 2000)  # 2000 more shares: 200,000 > 100,000
    assert refused.status is OrderStatus.REJECTED and "needs 200000" in (refused.reject_reason or "")
    got = [order(broker, f"s{i}", "sell", 1000) for i in range(5)]
    # resting sells project 1000 -> 0 (adds 0), -> -1000 (|-1000| = |1000|: adds 0), -> -2000 (adds 1000 x 100 =
    # 100,000 = the buying power: accepted); the fourth would add 100,000 more with none left
    assert [o.status for o in got] == [OrderStatus.NEW] * 3 + [OrderStatus.REJECTED] * 2
    assert "needs 100000.00000000, available 0" in (got[3].reject_reason or "")
    step(store, broker, 2, 100.0, 101.0, 99.0, 100.0)
    [pos] = broker.get_positions()
    acct = broker.get_account()
    assert pos.qty == -2000  # 1000 - 3 x 1000
    assert (acct.cash, acct.equity) == (D(300_000), D(100_000))  # 0 + 3000 x 100; 300,000 - 2000 x 100
    assert abs(pos.qty) * pos.market_price == 2 * acct.equity  # gross 200,000: at the 2x rule, not 4x


def test_each_side_is_projected_alone_so_any_subset_that_fills_stays_within_twice_equity(tmp_path,
                                                                                     any_db_url: str) -> None:
    store, broker = long_1000_at_100(tmp_path, any_db_url)
    # sell 3000 @100 alone: 1000 -> -2000, adds 1000 x 100 = 100,000 = the buying power: accepted
    assert order(broker, "s1", "sell", 3000, "100").status is OrderStatus.NEW
    # buy 1000 @90 alone: 1000 -> 2000, adds 1000 x 90 = 90,000; the worse side still holds 100,000: accepted
    # (checked against the bare position, as before, it needed 90,000 on top of the sell's 100,000 reserve)
    assert order(broker, "b1", "buy", 1000, "90").status is OrderStatus.NEW
    # buy 1000 more @90: the buy side alone reaches 3000, adding 2000 x 90 = 180,000 > 200,000 - 100,000.
    # Netting the resting sell against it (1000 - 3000 + 2000 = 0) would wrongly accept it.
    second = order(broker, "b2", "buy", 1000, "90")
    assert second.status is OrderStatus.REJECTED
    assert "needs 80000.00000000, available 0" in (second.reject_reason or "")  # 180,000 - 100,000 held
    # the worst subset fills: only the buy (low 89 reaches 90, high 91 misses the sell's 100)
    step(store, broker, 2, 90.0, 91.0, 89.0, 90.0)
    [pos] = broker.get_positions()
    acct = broker.get_account()
    assert pos.qty == 2000 and acct.cash == D(-90_000)  # 0 - 1000 x 90
    assert acct.equity == D(90_000)  # -90,000 + 2000 x 90
    assert abs(pos.qty) * pos.market_price <= 2 * acct.equity  # gross 180,000 = 2 x 90,000
