"""Reading Alpaca's order and fill history for the sync: paging past Alpaca's per-request limits.

Kept apart from the broker because it is one job with its own rules: Alpaca filters orders by
submission time only and pages fills by token, so "what changed since T" needs a lookback window,
lookups for older orders a fill touched, a floor (max_history) and a page cap that stops and says so.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from alpaca.common.enums import Sort
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.models import Order as AlpacaOrder
from alpaca.trading.requests import GetOrdersRequest

from engine.clock import Clock
from engine.trading.brokers.alpaca_calls import GuardedCaller
from engine.trading.brokers.alpaca_mapping import activity_time, activity_to_fill, to_broker_order
from engine.trading.brokers.base import BrokerError, BrokerFill, BrokerOrder

log = logging.getLogger(__name__)
PAGE = 500  # Alpaca's maximum page size for GET /v2/orders
ACTIVITY_PAGE = 100  # and for GET /v2/account/activities
MAX_PAGES = 40  # any paging loop stops here (20,000 orders / 4,000 fills per sync) and says so


class AlpacaHistory:
    """Open orders, orders updated since a time, and fills since a time, from Alpaca's trading API."""

    def __init__(self, client: TradingClient, calls: GuardedCaller, where: Callable[[str], str], clock: Clock,
                 order_lookback: timedelta, max_history: timedelta) -> None:
        self._client = client
        self._calls = calls
        self._where = where
        self._clock = clock
        self._lookback = order_lookback
        self._max_history = max_history

    def _page(self, req: GetOrdersRequest, seen: dict[str, AlpacaOrder]) -> tuple[list[AlpacaOrder], bool]:
        """One page of orders, its new ones added to `seen`; and whether it was the last (short, or nothing new)."""
        page = self._calls.value("list orders", self._calls.call("list orders", functools.partial(self._client.get_orders, req)))
        new = [o for o in page if str(o.id) not in seen]
        for o in new:
            seen[str(o.id)] = o
        return page, len(page) < PAGE or not new

    def _list_orders(self, status: QueryOrderStatus, after: datetime | None) -> list[AlpacaOrder]:
        """All matching orders, oldest first, paging past Alpaca's 500-per-request limit."""
        seen: dict[str, AlpacaOrder] = {}
        cursor = after
        for _ in range(MAX_PAGES):
            req = GetOrdersRequest(status=status, limit=PAGE, after=cursor, direction=Sort.ASC, nested=False)
            page, last = self._page(req, seen)
            if last:
                return list(seen.values())
            cursor = max(o.submitted_at for o in page) - timedelta(microseconds=1)
        raise BrokerError(f"{self._where('list orders')}: more than {MAX_PAGES * PAGE} {status.value} orders; "
                          "cancel some in Alpaca's console.")

    def _list_window(self, after: datetime) -> list[AlpacaOrder]:
        """Every order submitted after ``after``, newest first; past MAX_PAGES pages only the newest, with a warning:
        a sync that read nothing (it used to raise) would leave positions and equity stale for good, and orders
        older than the ones read are still reached by the fill lookups and order_checks' open-order lookups."""
        seen: dict[str, AlpacaOrder] = {}
        cursor: datetime | None = None
        for _ in range(MAX_PAGES):
            req = GetOrdersRequest(status=QueryOrderStatus.ALL, limit=PAGE, after=after, until=cursor,
                                   direction=Sort.DESC, nested=False)
            page, last = self._page(req, seen)
            if last:
                return list(seen.values())
            cursor = min(o.submitted_at for o in page) + timedelta(microseconds=1)
        log.warning("%s: more than %d orders submitted since %s; read the newest %d only (narrow order_lookback)",
                    self._where("list orders"), MAX_PAGES * PAGE, f"{after:%Y-%m-%d %H:%M}", len(seen))
        return list(seen.values())

    def list_open_orders(self) -> list[BrokerOrder]:
        return [to_broker_order(o) for o in self._list_orders(QueryOrderStatus.OPEN, None)]

    def _floor(self, since: datetime) -> datetime:
        """Never reach further back than max_history (a first sync asks for everything since 1970)."""
        return max(since, self._clock.now() - self._max_history)

    def _orders_window(self, since: datetime, acts: list[dict[str, Any]]) -> dict[str, AlpacaOrder]:
        """Orders submitted within order_lookback before ``since``, plus every order a fill since then touched."""
        orders = {str(o.id): o for o in self._list_window(self._floor(since) - self._lookback)}
        for oid in sorted({str(a.get("order_id")) for a in acts} - orders.keys()):
            op = f"get order {oid}"
            orders[oid] = self._calls.value(op, self._calls.call(op, functools.partial(self._client.get_order_by_id, oid)))
        return orders

    def list_orders_since(self, since: datetime) -> list[BrokerOrder]:
        """Orders updated at or after ``since``: how order states reach the store.

        Alpaca filters orders by submission time only, so this reads orders submitted up to
        ``order_lookback`` before ``since`` plus any order filled since then (from fill activities).
        Still missed: an order older than the lookback canceled or expired since; reconciliation's
        open-order comparison catches those.
        """
        return self.orders_and_fills_since(since)[0]

    def orders_and_fills_since(self, since: datetime) -> tuple[list[BrokerOrder], list[BrokerFill]]:
        """list_orders_since and fills_since from one read of the order window and of the fills: the sync asks
        both every cycle, and the window (every order of the last order_lookback) is most of its requests."""
        acts = self._fill_activities(since)
        orders = self._orders_window(since, acts)
        cids = {oid: o.client_order_id for oid, o in orders.items()}
        fills = [activity_to_fill(a, cids.get(str(a.get("order_id")), "")) for a in acts]
        return [to_broker_order(o) for o in orders.values() if o.updated_at >= since], fills

    def fills_of_orders(self, orders: dict[str, str], since: datetime) -> list[BrokerFill]:
        """The fills since ``since`` of ``{broker order id: client order id}``: a FILL activity Alpaca posted after
        the sync's overlap had passed is found here (order_checks asks for orders short of fills)."""
        return [activity_to_fill(a, orders[str(a.get("order_id"))]) for a in self._fill_activities(since)
                if str(a.get("order_id")) in orders]

    def fills_since(self, since: datetime) -> list[BrokerFill]:
        """Per-execution fills at or after ``since`` from Alpaca's FILL account activities.

        fill_id is Alpaca's activity id. Activities carry the broker order id only; client order
        ids come from the order list (or a lookup by order id for older orders).
        """
        acts = self._fill_activities(since)
        if not acts:
            return []
        cids = {oid: o.client_order_id for oid, o in self._orders_window(since, acts).items()}
        return [activity_to_fill(a, cids.get(str(a.get("order_id")), "")) for a in acts]

    def _fill_activities(self, since: datetime) -> list[dict[str, Any]]:
        """GET /v2/account/activities/FILL, oldest first, following page tokens (100 per page)."""
        rows: list[dict[str, Any]] = []
        token: str | None = None
        op = "list fill activities"
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"after": (self._floor(since) - timedelta(seconds=1)).isoformat(), "direction": "asc",
                                      "page_size": ACTIVITY_PAGE}
            if token:
                params["page_token"] = token
            page = self._calls.value(op, self._calls.call(op, functools.partial(self._client.get, "/account/activities/FILL", params)))
            if not isinstance(page, list):
                raise BrokerError(f"{self._where(op)}: unexpected answer (not a list).")
            rows.extend(page)
            if len(page) < ACTIVITY_PAGE:
                return [a for a in rows if activity_time(a) >= since]
            token = str(page[-1].get("id"))
        raise BrokerError(f"{self._where(op)}: more than {MAX_PAGES * ACTIVITY_PAGE} fills since {since:%Y-%m-%d %H:%M}; "
                          "the sync stops here rather than page for ever.")
