"""The paper broker's average entry is kept exactly, so realized P&L is the proceeds minus the exact cost.

Rounding the average to a 4 dp price tick misstated P&L by qty x the rounding: buying 100,000 @10.0000 and
100,000 @10.0001 averages 10.00005, which a tick rounds to 10.0001 (200,000 x 0.00005 = 10.00 lost on the
close). Each expectation below is worked by hand in its comment.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from engine.clock import ManualClock
from engine.market.types import Bar
from engine.store.models import BarRow, Instrument, PaperPosition
from engine.trading.brokers.base import OrderRequest, OrderSide
from engine.trading.brokers.paper import PaperBroker
from engine.trading.brokers.paper_books import apply_fill
from tests.trading_control_fixtures import make_store

D = Decimal
T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


def test_two_buys_a_tick_apart_then_a_full_close_book_the_exact_pnl() -> None:
    first = apply_fill(D(0), D(0), D(100_000), D("10.0000"))
    second = apply_fill(first.qty, first.avg_entry_price, D(100_000), D("10.0001"))
    # (100,000 x 10.0000 + 100,000 x 10.0001) / 200,000 = 2,000,010 / 200,000 = 10.00005
    assert second.qty == 200_000 and str(second.avg_entry_price) == "10.00005"
    close = apply_fill(second.qty, second.avg_entry_price, D(-200_000), D("10.50"))
    # 200,000 x 10.50 - 2,000,010 = 2,100,000 - 2,000,010 = 99,990.00 (a 10.0001 average gave 99,980.00)
    assert close.qty == 0 and close.realized_pnl == D("99990.00")
    whole = apply_fill(D("200000.00000000"), D(10), D(100_000), D("10.0000"))  # a whole quotient (store's 8 dp qty)
    assert str(whole.avg_entry_price) == "10.0000", "shown at the price's 4 dp, not as 1E+1"


def test_partial_closes_keep_the_exact_basis_and_sum_to_proceeds_minus_cost() -> None:
    a = apply_fill(D(0), D(0), D(100_000), D("10.0000"))
    b = apply_fill(a.qty, a.avg_entry_price, D(200_000), D("10.0001"))
    # cost 1,000,000 + 2,000,020 = 3,000,020 for 300,000: average 10.0000666...
    half = apply_fill(b.qty, b.avg_entry_price, D(-150_000), D("10.50"))
    # half the shares carry half the cost: 150,000 x 10.50 - 1,500,010 = 74,990.00 (10.0001 gave 74,985.00)
    assert half.qty == 150_000 and half.realized_pnl == D("74990.00")
    assert half.avg_entry_price == b.avg_entry_price, "a reduction leaves the average as it was"
    rest = apply_fill(half.qty, half.avg_entry_price, D(-150_000), D("10.50"))
    assert rest.qty == 0 and rest.realized_pnl == D("74990.00")
    # together: 300,000 x 10.50 - 3,000,020 = 149,980.00
    assert half.realized_pnl + rest.realized_pnl == D("149980.00")


def test_a_reversal_through_zero_closes_at_the_exact_basis_and_reopens_at_the_fill() -> None:
    a = apply_fill(D(0), D(0), D(-100_000), D("20.0000"))
    b = apply_fill(a.qty, a.avg_entry_price, D(-100_000), D("20.0001"))  # short 200,000 for 4,000,010
    flip = apply_fill(b.qty, b.avg_entry_price, D(300_000), D("19.50"))
    # covers 200,000: 4,000,010 - 200,000 x 19.50 = 4,000,010 - 3,900,000 = 100,010.00 (20.0001 gave 100,020.00)
    assert flip.realized_pnl == D("100010.00")
    assert flip.qty == 100_000 and flip.avg_entry_price == D("19.50"), "the remainder opens at the fill price"
    out = apply_fill(flip.qty, flip.avg_entry_price, D(-100_000), D("19.75"))
    assert out.qty == 0 and out.realized_pnl == D("25000.00")  # 100,000 x (19.75 - 19.50)


def test_the_stored_average_keeps_every_digit_on_both_dialects(tmp_path, any_db_url: str) -> None:
    """Through the broker and the paper_positions column (NUMERIC(24, 8) before migration 0013 would round
    10.0000666... to 10.00006667 on PostgreSQL, and 4 dp books rounded it to 10.0001 everywhere)."""
    store = make_store(tmp_path, any_db_url)
    clock = ManualClock(T0)
    broker = PaperBroker(store, clock, starting_cash=D(10_000_000), slippage_bps=D(0), commission_per_share=D(0),
                         participation=D(1))
    with store.write() as s:
        s.add(Instrument(symbol="AAA", kind="stock", has_options=False, source="test"))

    def trade(minute: int, side: str, qty: int, px: float) -> None:
        bar = Bar("AAA", T0 + timedelta(minutes=minute), px, px + 1, px - 1, px, 10_000_000)
        with store.write() as s:
            s.add(BarRow(symbol="AAA", ts=bar.ts, open=px, high=bar.high, low=bar.low, close=px, volume=bar.volume))
        broker.submit_order(OrderRequest(f"o{minute}", "AAA", OrderSide(side), D(qty)))
        broker.process_bars([bar])

    trade(0, "buy", 100_000, 10.0)
    trade(1, "buy", 200_000, 10.0001)
    with store.read() as s:
        stored = s.get(PaperPosition, "AAA")
        assert stored is not None
        avg = stored.avg_entry_price
    assert avg == D(3_000_020) / D(300_000)  # 10.0000666... to the full 28 digits
    [pos] = broker.get_positions()
    assert pos.avg_entry_price == avg
    trade(2, "sell", 150_000, 10.5)
    trade(3, "sell", 150_000, 10.5)
    assert broker.realized_pnl() == (D("149980.00"), D(0))  # 300,000 x 10.50 - 3,000,020
    assert broker.get_account().cash == D(10_000_000) + D("149980.00")
    store.dispose()
