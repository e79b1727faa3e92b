"""Stop and trailing-stop orders in the fake Alpaca account: validation, held quantity, triggering.

Why a separate module: the book keeps orders and money; this is the one place that decides when a
resting protective order becomes a market order, so tests can push prices and watch it fire the way
Alpaca documents it:

* stop (sell): triggers when a trade prints at or below ``stop_price`` and fills at that trade's price
  (a gap through the stop fills at the gap price, never at the stop);
* trailing_stop (sell): ``hwm`` is the highest price since the order was accepted, the stop is
  ``hwm * (1 - trail_percent / 100)``; a buy (covering a short) mirrors both with the low-water mark.

Alpaca's rules modelled: trailing stops take whole shares only; fractional stop orders are DAY only;
shares held by open stop orders cannot be sold again ("insufficient qty available").
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fake_alpaca.book import FakeBook, FakeOrder

STOP_TYPES = ("stop", "trailing_stop")
HUNDRED = Decimal(100)
CENT = Decimal("0.01")


class StopRefused(Exception):
    """(HTTP status, Alpaca code, message) of a refused stop order; the book turns it into ApiFailure."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.args3 = (status, code, message)


def validate(body: dict[str, Any], order_type: str, qty: Decimal, tif: str) -> tuple[Decimal | None, Decimal | None]:
    """(stop_price, trail_percent) of a stop order; StopRefused for what Alpaca refuses."""
    whole = qty == qty.to_integral_value()
    if order_type == "stop":
        if body.get("stop_price") is None:
            raise StopRefused(422, 40010000, "stop_price is required for stop orders")
        if not whole and tif != "day":
            raise StopRefused(422, 40010000, "fractional orders must be DAY orders")
        return Decimal(str(body["stop_price"])), None
    if body.get("trail_percent") is None:
        raise StopRefused(422, 40010000, "trail_percent or trail_price is required for trailing_stop orders")
    if not whole:
        raise StopRefused(422, 40010000, "fractional orders must be market, limit, stop or stop_limit orders")
    return None, Decimal(str(body["trail_percent"]))


def trailing_level(order: FakeOrder) -> Decimal:
    """The trailing stop's current stop price from its water mark (rounded to the cent)."""
    assert order.hwm is not None and order.trail_percent is not None
    sign = Decimal(1) if order.side == "sell" else Decimal(-1)
    return (order.hwm * (1 - sign * order.trail_percent / HUNDRED)).quantize(CENT, ROUND_HALF_UP)


def held_qty(book: FakeBook, symbol: str, side: str) -> Decimal:
    """Quantity reserved by open stop orders on one side of one symbol."""
    return sum((o.qty - o.filled_qty for o in book.open_orders()
                if o.symbol == symbol and o.side == side and o.order_type in STOP_TYPES), Decimal(0))


def check_available(book: FakeBook, symbol: str, side: str, qty: Decimal) -> None:
    """Alpaca refuses to sell (or cover) shares an open stop order already holds."""
    position = book.positions.get(symbol, (Decimal(0), Decimal(0)))[0]
    closing = (position > 0 and side == "sell") or (position < 0 and side == "buy")
    if not closing:
        return
    available = abs(position) - held_qty(book, symbol, side)
    if qty > available:
        raise StopRefused(403, 40310000, f"insufficient qty available for order (requested: {format(qty, 'f')}, "
                          f"available: {format(available, 'f')})")


def on_price(book: FakeBook, symbol: str, price: Decimal) -> list[str]:
    """A trade printed at ``price``: fire every stop it reaches (at that price), then move water marks.

    Returns the ids of the orders that fired. Called with the book's lock held."""
    fired = []
    for order in [o for o in book.open_orders() if o.symbol == symbol and o.order_type in STOP_TYPES]:
        level = order.stop_price if order.order_type == "stop" else trailing_level(order)
        assert level is not None
        reached = price <= level if order.side == "sell" else price >= level
        if reached:
            book.fill(order.id, order.qty - order.filled_qty, price)
            fired.append(order.id)
            continue
        if order.order_type == "trailing_stop" and order.hwm is not None:
            better = price > order.hwm if order.side == "sell" else price < order.hwm
            if better:
                order.hwm = price
                order.stop_price = trailing_level(order)
    return fired
