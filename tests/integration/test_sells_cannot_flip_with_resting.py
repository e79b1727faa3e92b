"""A flip split across orders is refused: a sell is judged against the long less our resting sells, a cover
against the short less our resting buys (SQLite and PostgreSQL, the real paper broker and gateway).

Holding 67 with a resting sell of 67, a market sell of 67 would leave -67 once both fill: it is refused. The paper
broker fills nothing until the next bar, so every order placed here stays working; quantities are by hand.
"""
from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from engine.store.models import PaperOrder
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.control import SimpleControlContext
from engine.trading.gateway import GatewayResult, OrderIntent, submit
from tests.trading_control_fixtures import LOOSE, T0, hold_at_100, make_ctx

D = Decimal


@pytest.fixture()
def ctx(tmp_path, any_db_url: str) -> Iterator[SimpleControlContext]:  # type: ignore[no-untyped-def]
    c = make_ctx(tmp_path, url=any_db_url)  # AAA and BBB at 100
    yield c
    c.store.dispose()


def hold(c: SimpleControlContext, **qty: int) -> None:
    """The broker's position (bought or shorted at 100); the store learns it by sync."""
    hold_at_100(c, D(10_000_000), LOOSE, T0, **qty)


def order(c: SimpleControlContext, side: OrderSide, qty: int, key: str, limit: str | None = None) -> GatewayResult:
    kind = OrderType.LIMIT if limit is not None else OrderType.MARKET
    return submit(c, OrderIntent("AAA", side, D(qty), kind, D(limit) if limit else None, idempotency_key=key),
                  "alice", "manual", LOOSE)


def at_broker(c: SimpleControlContext) -> int:
    with c.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(PaperOrder)) or 0)


def test_a_market_sell_on_top_of_a_resting_sell_of_the_whole_long_is_refused(ctx: SimpleControlContext) -> None:
    hold(ctx, AAA=67)
    resting = order(ctx, OrderSide.SELL, 67, "rest", limit="104")  # above the price: it rests
    assert resting.accepted, resting
    refused = order(ctx, OrderSide.SELL, 67, "man")  # 67 - 67 - 67 = -67 once both fill
    assert not refused.accepted and refused.check == "position_flip"
    assert "67 already resting" in (refused.reason or "") and "at most 0 more" in (refused.reason or "")
    assert at_broker(ctx) == 1, "only the resting sell reached the broker"


def test_sells_up_to_the_long_less_resting_sells_pass_and_one_more_share_does_not(ctx: SimpleControlContext) -> None:
    hold(ctx, AAA=67)
    assert order(ctx, OrderSide.SELL, 40, "tp", limit="104").accepted  # 27 left to sell
    over = order(ctx, OrderSide.SELL, 28, "s1")
    assert over.check == "position_flip" and "at most 27 more" in (over.reason or "")
    assert order(ctx, OrderSide.SELL, 27, "s2").accepted  # 67 - 40 - 27 = 0: closes exactly
    last = order(ctx, OrderSide.SELL, 1, "s3")  # 67 - 67 - 1 = -1
    assert last.check == "position_flip" and "at most 0 more" in (last.reason or "")


def test_a_cover_on_top_of_a_resting_buy_of_the_whole_short_is_refused(ctx: SimpleControlContext) -> None:
    hold(ctx, AAA=-50)
    assert order(ctx, OrderSide.BUY, 50, "rest", limit="96").accepted  # below the price: it rests
    refused = order(ctx, OrderSide.BUY, 50, "man")  # -50 + 50 + 50 = +50 once both fill
    assert not refused.accepted and refused.check == "position_flip"
    assert "turn the short 50 into a long 50" in (refused.reason or "")
    assert order(ctx, OrderSide.BUY, 50, "man-2").check == "position_flip"  # asked again: still refused


def test_a_sell_with_only_resting_buys_still_closes_the_long(ctx: SimpleControlContext) -> None:
    """A resting buy may never fill: it does not make room for a bigger sell, nor block closing what is held."""
    hold(ctx, AAA=67)
    assert order(ctx, OrderSide.BUY, 10, "add", limit="96").accepted
    assert order(ctx, OrderSide.SELL, 67, "close").accepted  # 67 - 0 - 67 = 0
    assert order(ctx, OrderSide.SELL, 1, "more").check == "position_flip"  # 67 - 67 - 1 = -1
