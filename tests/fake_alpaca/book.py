"""The fake Alpaca account: orders, positions, cash, bars and option snapshots.

Pure state with a lock, no HTTP, so tests can also inspect and drive it directly
(``book.orders_for(client_order_id)``, ``book.fill(order_id, qty, price)``).
JSON shapes follow what alpaca-py 0.44's pydantic models require.
"""
from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tests.fake_alpaca import stops

OPEN_STATUSES = {"new", "accepted", "pending_new", "partially_filled", "held", "pending_cancel"}


class ApiFailure(Exception):
    """An Alpaca-style error answer: HTTP status plus JSON ``{"code", "message"}``."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _iso(ts: datetime | None) -> str | None:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z") if ts else None


def _num(x: Decimal | None) -> str | None:
    return None if x is None else format(x.normalize(), "f")


@dataclass
class FakeOrder:
    id: str
    client_order_id: str
    symbol: str
    side: str
    qty: Decimal
    order_type: str
    time_in_force: str
    limit_price: Decimal | None
    status: str
    created_at: datetime
    updated_at: datetime
    filled_qty: Decimal = Decimal(0)
    filled_avg_price: Decimal | None = None
    filled_at: datetime | None = None
    canceled_at: datetime | None = None
    extended_hours: bool = False
    stop_price: Decimal | None = None  # a stop's trigger; a trailing stop's current level
    trail_percent: Decimal | None = None
    hwm: Decimal | None = None  # a trailing stop's high-water (sell) / low-water (buy) mark
    notional: Decimal | None = None  # a dollar-amount order: Alpaca sends qty null (qty here = the filled shares)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "submitted_at": _iso(self.created_at),
            "filled_at": _iso(self.filled_at),
            "expired_at": None,
            "canceled_at": _iso(self.canceled_at),
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.symbol)),
            "symbol": self.symbol,
            "asset_class": "us_equity",
            "notional": _num(self.notional),
            "qty": None if self.notional is not None else _num(self.qty),
            "filled_qty": _num(self.filled_qty),
            "filled_avg_price": _num(self.filled_avg_price),
            "order_class": "simple",
            "order_type": self.order_type,
            "type": self.order_type,
            "side": self.side,
            "time_in_force": self.time_in_force,
            "limit_price": _num(self.limit_price),
            "stop_price": _num(self.stop_price),
            "trail_percent": _num(self.trail_percent),
            "trail_price": None,
            "hwm": _num(self.hwm),
            "status": self.status,
            "extended_hours": self.extended_hours,
            "legs": None,
        }


@dataclass
class FakeBook:
    """Account state. ``fill_price`` fills market orders; ``prices`` overrides it per symbol."""

    cash: Decimal = Decimal("100000")
    fill_price: Decimal = Decimal("100")
    prices: dict[str, Decimal] = field(default_factory=dict)
    auto_fill_market: bool = True
    reject_symbols: set[str] = field(default_factory=set)
    market_open: bool = True
    # symbol -> (HTTP status, Alpaca code, message) an order for it is refused with (real Alpaca bodies)
    reject_messages: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    next_open: datetime | None = None  # what /v2/clock reports (default: now)
    next_close: datetime | None = None
    clock_now: datetime | None = None  # the "timestamp" /v2/clock reports (default: the real now)
    bars: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: dict[str, FakeOrder] = field(default_factory=dict)
    positions: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)  # qty signed, avg price
    activities: list[dict[str, Any]] = field(default_factory=list)  # FILL account activities, oldest first
    cash_activities: list[dict[str, Any]] = field(default_factory=list)  # CSD / CSW / JNLC (tests/fake_alpaca/cash.py)
    listed_next_read: list[dict[str, Any]] = field(default_factory=list)  # listed from the next activities read on
    # called as listener(event, order, price, qty) on new / fill / partial_fill / canceled (trade updates)
    listeners: list[Callable[[str, FakeOrder, Decimal | None, Decimal | None], None]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    # True: DELETE /v2/orders/{id} only requests the cancel (204, status pending_cancel) like Alpaca; the test
    # then decides with confirm_cancel or reject_cancel (the venue refusing it: trade update order_cancel_rejected)
    async_cancel: bool = False
    account_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # /v2/account fields a test overrides (trading_blocked, pattern_day_trader, daytrade_count, shorting_enabled...)
    account_overrides: dict[str, Any] = field(default_factory=dict)

    # ---- helpers for tests -------------------------------------------------
    def price(self, symbol: str) -> Decimal:
        return self.prices.get(symbol, self.fill_price)

    def orders_for(self, client_order_id: str) -> list[FakeOrder]:
        with self.lock:
            return [o for o in self.orders.values() if o.client_order_id == client_order_id]

    def open_orders(self) -> list[FakeOrder]:
        with self.lock:
            return [o for o in self.orders.values() if o.status in OPEN_STATUSES]

    def set_position(self, symbol: str, qty: Decimal, avg_price: Decimal) -> None:
        with self.lock:
            self.positions[symbol] = (Decimal(qty), Decimal(avg_price))

    def move_price(self, symbol: str, price: Decimal) -> list[str]:
        """A trade prints at ``price``: stop and trailing-stop orders it reaches fire (tests/fake_alpaca/stops.py)."""
        with self.lock:
            self.prices[symbol] = Decimal(price)
            return stops.on_price(self, symbol, Decimal(price))

    def _emit(self, event: str, order: FakeOrder, price: Decimal | None = None, qty: Decimal | None = None) -> None:
        for listener in list(self.listeners):
            listener(event, order, price, qty)

    def fill(self, order_id: str, qty: Decimal, price: Decimal) -> FakeOrder:
        """Fill (part of) an order, moving cash and position like a real execution."""
        with self.lock:
            o = self.orders[order_id]
            qty = min(Decimal(qty), o.qty - o.filled_qty)
            prev_value = (o.filled_avg_price or Decimal(0)) * o.filled_qty
            o.filled_qty += qty
            o.filled_avg_price = (prev_value + qty * price) / o.filled_qty
            now = datetime.now(UTC)
            o.updated_at = now
            o.filled_at = now
            o.status = "filled" if o.filled_qty == o.qty else "partially_filled"
            self.activities.append({
                "id": f"{now:%Y%m%d%H%M%S%f}::{uuid.uuid4()}", "activity_type": "FILL",
                "transaction_time": _iso(now), "type": "fill" if o.status == "filled" else "partial_fill",
                "price": _num(price), "qty": _num(qty), "side": o.side, "symbol": o.symbol,
                "leaves_qty": _num(o.qty - o.filled_qty), "order_id": o.id, "cum_qty": _num(o.filled_qty),
                "order_status": o.status,
            })
            self._emit("fill" if o.status == "filled" else "partial_fill", o, price, qty)
            signed = qty if o.side == "buy" else -qty
            self.cash -= signed * price
            old_qty, old_avg = self.positions.get(o.symbol, (Decimal(0), Decimal(0)))
            new_qty = old_qty + signed
            if new_qty == 0:
                self.positions.pop(o.symbol, None)
            elif old_qty == 0 or (old_qty > 0) != (new_qty > 0):
                self.positions[o.symbol] = (new_qty, price)
            elif abs(new_qty) > abs(old_qty):
                self.positions[o.symbol] = (new_qty, (old_avg * old_qty + price * signed) / new_qty)
            else:
                self.positions[o.symbol] = (new_qty, old_avg)
            return o

    # ---- trading API ---------------------------------------------------------
    def account_json(self) -> dict[str, Any]:
        with self.lock:
            market_value = sum((q * self.price(s) for s, (q, _) in self.positions.items()), Decimal(0))
            equity = self.cash + market_value
            return {
                "id": self.account_id,
                "account_number": "PA0000FAKE",
                "status": "ACTIVE",
                "currency": "USD",
                "cash": _num(self.cash),
                "equity": _num(equity),
                "portfolio_value": _num(equity),
                "buying_power": _num(self.cash * 2),
                "long_market_value": _num(market_value),
                "pattern_day_trader": False,
                "trading_blocked": False,
                "account_blocked": False,
                "trade_suspended_by_user": False,
                "shorting_enabled": True,
                "daytrade_count": 0,
                **self.account_overrides,
            }

    def clock_json(self) -> dict[str, Any]:
        now = self.clock_now or datetime.now(UTC)
        return {"timestamp": _iso(now), "is_open": self.market_open,
                "next_open": _iso(self.next_open or now), "next_close": _iso(self.next_close or now)}

    def positions_json(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self._position_json(s) for s in sorted(self.positions)]

    def _position_json(self, symbol: str) -> dict[str, Any]:
        qty, avg = self.positions[symbol]
        px = self.price(symbol)
        return {
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)),
            "symbol": symbol,
            "exchange": "NASDAQ",
            "asset_class": "us_equity",
            "avg_entry_price": _num(avg),
            "qty": _num(qty),
            "qty_available": _num(qty),
            "side": "long" if qty > 0 else "short",
            "market_value": _num(qty * px),
            "cost_basis": _num(qty * avg),
            "current_price": _num(px),
            "unrealized_pl": _num((px - avg) * qty),
        }

    def submit(self, body: dict[str, Any]) -> FakeOrder:
        try:
            symbol = str(body["symbol"]).upper()
            qty = Decimal(str(body["qty"]))
            side = str(body["side"])
            order_type = str(body.get("type") or body.get("order_type") or "market")
            tif = str(body.get("time_in_force", "day"))
        except (KeyError, ArithmeticError) as exc:
            raise ApiFailure(422, 40010000, f"invalid order request: {exc}") from exc
        if qty <= 0 or side not in ("buy", "sell") or order_type not in ("market", "limit", *stops.STOP_TYPES):
            raise ApiFailure(422, 40010000, "invalid qty, side or type")
        limit = body.get("limit_price")
        if order_type == "limit" and limit is None:
            raise ApiFailure(422, 40010000, "limit_price is required for limit orders")
        if symbol in self.reject_symbols:
            raise ApiFailure(403, 40310000, "insufficient buying power")
        if symbol in self.reject_messages:
            raise ApiFailure(*self.reject_messages[symbol])
        try:
            stop_price, trail = stops.validate(body, order_type, qty, tif) if order_type in stops.STOP_TYPES \
                else (None, None)
            stops.check_available(self, symbol, side, qty)
        except stops.StopRefused as exc:
            raise ApiFailure(*exc.args3) from exc
        cid = str(body.get("client_order_id") or uuid.uuid4())
        if len(cid) > 128:
            raise ApiFailure(422, 40010001, "client_order_id must be no more than 128 characters")
        with self.lock:
            if any(o.client_order_id == cid for o in self.orders.values()):
                raise ApiFailure(422, 40010001, "client_order_id must be unique")
            now = datetime.now(UTC)
            order = FakeOrder(
                id=str(uuid.uuid4()), client_order_id=cid, symbol=symbol, side=side, qty=qty,
                order_type=order_type, time_in_force=tif,
                limit_price=None if limit is None else Decimal(str(limit)),
                status="new", created_at=now, updated_at=now, extended_hours=bool(body.get("extended_hours")),
                stop_price=stop_price, trail_percent=trail,
                hwm=self.price(symbol) if order_type == "trailing_stop" else None,
            )
            if order.order_type == "trailing_stop":
                order.stop_price = stops.trailing_level(order)
            self.orders[order.id] = order
            self._emit("new", order)
            if order_type == "market" and self.auto_fill_market:
                self.fill(order.id, qty, self.price(symbol))
            return order

    def list_orders(self, params: dict[str, str]) -> list[dict[str, Any]]:
        status = params.get("status", "open")
        limit = min(int(params.get("limit") or 50), 500)
        after = _parse_ts(params.get("after"))
        until = _parse_ts(params.get("until"))
        symbols = {s for s in params.get("symbols", "").split(",") if s}
        with self.lock:
            found = [
                o for o in self.orders.values()
                if (status == "all" or (status == "open") == (o.status in OPEN_STATUSES))
                and (after is None or o.created_at > after)
                and (until is None or o.created_at < until)
                and (not symbols or o.symbol in symbols)
            ]
            found.sort(key=lambda o: o.created_at, reverse=params.get("direction", "desc") != "asc")
            return [o.to_json() for o in found[:limit]]

    def by_client_id(self, cid: str) -> FakeOrder:
        matches = self.orders_for(cid)
        if not matches:
            raise ApiFailure(404, 40410000, "order not found")
        return matches[0]

    def get(self, order_id: str) -> FakeOrder:
        with self.lock:
            if order_id not in self.orders:
                raise ApiFailure(404, 40410000, "order not found")
            return self.orders[order_id]

    def cancel(self, order_id: str) -> FakeOrder:
        with self.lock:
            o = self.get(order_id)
            if o.status not in OPEN_STATUSES:
                raise ApiFailure(422, 42210000, f"order is not cancelable (status {o.status})")
            if self.async_cancel:
                o.status, o.updated_at = "pending_cancel", datetime.now(UTC)
                self._emit("pending_cancel", o)
                return o
            return self.confirm_cancel(order_id)

    def confirm_cancel(self, order_id: str) -> FakeOrder:
        """The venue carries out a requested cancel (async_cancel) or an immediate one."""
        with self.lock:
            o = self.get(order_id)
            o.status = "canceled"
            o.canceled_at = o.updated_at = datetime.now(UTC)
            self._emit("canceled", o)
            return o

    def reject_cancel(self, order_id: str) -> FakeOrder:
        """The venue refuses a requested cancel: the order works on (its status before the request)."""
        with self.lock:
            o = self.get(order_id)
            o.status = "partially_filled" if o.filled_qty else "new"
            o.updated_at = datetime.now(UTC)
            self._emit("order_cancel_rejected", o)
            return o

    def cancel_all(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{"id": o.id, "status": 200, "body": self.cancel(o.id).to_json()}
                    for o in self.open_orders()]

    def close_position(self, symbol: str) -> FakeOrder:
        with self.lock:
            if symbol not in self.positions:
                raise ApiFailure(404, 40410000, f"position does not exist: {symbol}")
            qty, _ = self.positions[symbol]
            return self.submit({"symbol": symbol, "qty": str(abs(qty)), "type": "market",
                                "side": "sell" if qty > 0 else "buy", "time_in_force": "day"})

    def close_all(self, cancel_orders: bool) -> list[dict[str, Any]]:
        with self.lock:
            if cancel_orders:
                self.cancel_all()
            out = []
            for symbol in sorted(self.positions):
                try:
                    out.append({"symbol": symbol, "status": 200, "body": self.close_position(symbol).to_json()})
                except ApiFailure as exc:
                    out.append({"symbol": symbol, "status": exc.status,
                                "body": {"code": exc.code, "message": exc.message, "symbol": symbol}})
            return out

    def fill_activities(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """GET /v2/account/activities/FILL: after/until on transaction_time, page_size <= 100, page_token = last id."""
        after, until = _parse_ts(params.get("after")), _parse_ts(params.get("until"))
        size = min(int(params.get("page_size") or 100), 100)
        with self.lock:
            rows = [a for a in self.activities
                    if (after is None or _parse_ts(a["transaction_time"]) > after)
                    and (until is None or _parse_ts(a["transaction_time"]) < until)]
        if params.get("direction", "desc") != "asc":
            rows.reverse()
        token = params.get("page_token")
        if token:
            ids = [a["id"] for a in rows]
            rows = rows[ids.index(token) + 1:] if token in ids else []
        return rows[:size]

    # ---- market data -----------------------------------------------------------
    def add_bar(self, symbol: str, ts: datetime, o: float, h: float, low: float, c: float, v: float) -> None:
        with self.lock:
            self.bars.setdefault(symbol, []).append(
                {"t": _iso(ts), "o": o, "h": h, "l": low, "c": c, "v": v, "n": 10, "vw": (h + low + c) / 3})
            self.bars[symbol].sort(key=lambda b: b["t"])

    def bars_page(self, params: dict[str, str], page_size: int) -> dict[str, Any]:
        symbols = [s for s in params.get("symbols", "").split(",") if s]
        start = _parse_ts(params.get("start"))
        end = _parse_ts(params.get("end"))
        limit = min(int(params.get("limit") or 1000), page_size)
        offset = int(params.get("page_token") or 0)
        with self.lock:
            rows = [(s, b) for s in symbols for b in self.bars.get(s, [])
                    if (start is None or _parse_ts(b["t"]) >= start) and (end is None or _parse_ts(b["t"]) <= end)]
        page = rows[offset:offset + limit]
        out: dict[str, list[dict[str, Any]]] = {}
        for s, b in page:
            out.setdefault(s, []).append(b)
        nxt = str(offset + limit) if offset + limit < len(rows) else None
        return {"bars": out, "next_page_token": nxt}

    def snapshots_page(self, underlying: str, params: dict[str, str], page_size: int) -> dict[str, Any]:
        with self.lock:
            items = sorted((self.snapshots.get(underlying) or {}).items())
        items = [(occ, snap) for occ, snap in items if _occ_matches(occ, params)]
        offset = int(params.get("page_token") or 0)
        page = dict(items[offset:offset + page_size])
        nxt = str(offset + page_size) if offset + page_size < len(items) else None
        return {"snapshots": page, "next_page_token": nxt}


def _occ_matches(occ: str, params: dict[str, str]) -> bool:
    """Alpaca's option-chain filters: expiration_date_gte/lte (YYYY-MM-DD), strike_price_gte/lte, type."""
    tail = occ[-15:]  # YYMMDD + C/P + strike x 1000 (8 digits)
    expiry = f"20{tail[:2]}-{tail[2:4]}-{tail[4:6]}"
    kind = "call" if tail[6] == "C" else "put"
    strike = int(tail[7:]) / 1000.0
    checks = [
        ("expiration_date_gte", lambda v: expiry >= v), ("expiration_date_lte", lambda v: expiry <= v),
        ("expiration_date", lambda v: expiry == v), ("type", lambda v: kind == v),
        ("strike_price_gte", lambda v: strike >= float(v)), ("strike_price_lte", lambda v: strike <= float(v)),
    ]
    return all(check(params[name]) for name, check in checks if params.get(name))


def _parse_ts(value: str | None) -> datetime | None:
    if not value:
        return None
    ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
