"""Audit 5, defect 1: client order ids carry the store's installation id (engine/store/installation.py), so a new
store on the same Alpaca account whose intent keys repeat an earlier store's (keys built on database ids that
start again at 1) places its orders instead of having them refused as an id clash; a store that already holds
its own orders keeps its ids byte for byte (an intent in flight at the upgrade is never sent twice). Real HTTP
to the fake Alpaca on 127.0.0.1, paper broker for the parent; stores on SQLite and PostgreSQL. Expected ids are
hashed here by hand: sha256("origin|key|symbol|side[|installation]"), the first 32 hex digits after "rd-".
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.context import EngineContext
from engine.execution.parents import create_parent, work_parents
from engine.execution.slicing import SliceSpec
from engine.store.installation import INSTALLATION_KEY, installation_id, seed_installation_id
from engine.store.migrate import open_store
from engine.store.models import KeyValue, OrderRow, ParentChild
from engine.trading import gateway
from engine.trading.brokers.base import OrderSide, OrderStatus
from engine.trading.intent import OrderIntent
from tests.fake_alpaca import FakeAlpacaServer
from tests.integration.test_execution_db import bar, ctx  # noqa: F401
from tests.trading_control_fixtures import alpaca_context

KEY = "parent-1-1"  # parent 1's first child: the same key in every new store
BUY5 = OrderIntent("AAA", OrderSide.BUY, Decimal(5), idempotency_key=KEY)
LEGACY = "rd-" + hashlib.sha256(b"execution|parent-1-1|AAA|buy").hexdigest()[:32]


def _hand_id(text: str) -> str:
    return "rd-" + hashlib.sha256(text.encode()).hexdigest()[:32]


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer() as srv:
        srv.book.prices["AAA"] = Decimal(100)
        yield srv


def _rows(c: EngineContext, coid: str) -> list[OrderRow]:
    with c.store.read() as s:
        return list(s.scalars(select(OrderRow).where(OrderRow.client_order_id == coid)))


def _stored_key(c: EngineContext) -> dict | None:
    with c.store.read() as s:
        row = s.get(KeyValue, INSTALLATION_KEY)
        return None if row is None else row.value


def test_a_fresh_store_on_the_same_account_places_an_intent_whose_key_an_old_store_used(
        tmp_path: Path, any_db_url: str, server: FakeAlpacaServer) -> None:
    (tmp_path / "one").mkdir()
    with alpaca_context(tmp_path / "one", f"sqlite:///{tmp_path / 'one' / 'old.db'}", server) as old:
        seed_installation_id(old.store, "")  # the old store predates installation ids: legacy ids
        first = gateway.submit(old, BUY5, "system:exec", "execution")
    assert (first.status, first.client_order_id) == (OrderStatus.FILLED, LEGACY)
    server.book.prices["AAA"] = Decimal(120)
    with alpaca_context(tmp_path, any_db_url, server) as new:  # reset store: its first sync imports the old order
        (imported,) = _rows(new, LEGACY)
        assert imported.origin == "external"
        assert _stored_key(new) is None  # not made yet: the imported order does not make this store legacy
        again = gateway.submit(new, BUY5, "system:exec", "execution")
        inst = installation_id(new.store)
        assert len(inst) == 12 and int(inst, 16) >= 0 and _stored_key(new) == {"id": inst}
        assert again.client_order_id == _hand_id(f"execution|parent-1-1|AAA|buy|{inst}") != LEGACY
        assert (again.status, again.accepted, again.duplicate, again.check) == (OrderStatus.FILLED, True, False, None)
        (placed,) = server.book.orders_for(again.client_order_id)
        assert again.broker_order_id == placed.id != first.broker_order_id
        assert server.book.positions["AAA"][0] == 10  # 5 old + 5 new: the new intent was placed
        (row,) = _rows(new, again.client_order_id)
        assert (row.origin, row.filled_qty, row.filled_avg_price) == ("execution", 5, 120)
        retry = gateway.submit(new, BUY5, "system:exec", "execution")  # a retry is still deduped
        assert retry.duplicate and retry.client_order_id == again.client_order_id
        assert len(server.book.orders_for(again.client_order_id)) == 1


def test_a_store_holding_its_own_orders_keeps_its_legacy_ids(
        tmp_path: Path, any_db_url: str, server: FakeAlpacaServer) -> None:
    with alpaca_context(tmp_path, any_db_url, server) as c:
        assert _stored_key(c) is None
        at = c.clock.now()
        with c.store.write() as s:  # an intent recorded by the release before (crashed before its send)
            s.add(OrderRow(client_order_id=LEGACY, broker_order_id=None, symbol="AAA", side="buy", qty=Decimal(5),
                           order_type="market", limit_price=None, status="pending_new", origin="execution",
                           actor="system:exec", param_version_id=None, created_at=at, updated_at=at))
        retry = gateway.submit(c, BUY5, "system:exec", "execution")
        assert (retry.client_order_id, retry.duplicate) == (LEGACY, True)  # the same id: never sent twice
        assert installation_id(c.store) == "" and _stored_key(c) == {"id": ""}
        other = gateway.submit(c, OrderIntent("AAA", OrderSide.BUY, Decimal(2), idempotency_key="control-7-AAA"),
                               "web:tess", "control")
        assert other.client_order_id == _hand_id("control|control-7-AAA|AAA|buy")  # byte for byte as before
        assert other.status is OrderStatus.FILLED and server.book.positions["AAA"][0] == 2


def test_the_installation_id_is_stable_across_reopening_the_store(
        tmp_path: Path, any_db_url: str, server: FakeAlpacaServer) -> None:
    with alpaca_context(tmp_path, any_db_url, server) as c:
        first = gateway.submit(c, BUY5, "system:exec", "execution")
        inst = installation_id(c.store)
        assert inst != "" and first.client_order_id == _hand_id(f"execution|parent-1-1|AAA|buy|{inst}")
        reopened = open_store(any_db_url)
        try:
            assert installation_id(reopened) == inst  # read back, not made again
            assert seed_installation_id(reopened, "") == inst  # an id in force is never replaced
            with reopened.read() as s:
                assert s.scalars(select(KeyValue.value).where(KeyValue.key == INSTALLATION_KEY)).all() == [
                    {"id": inst}]
        finally:
            reopened.dispose()
        again = gateway.submit(c, BUY5, "system:exec", "execution")
        assert (again.client_order_id, again.duplicate) == (first.client_order_id, True)
        assert len(server.book.orders_for(first.client_order_id)) == 1


def test_a_sliced_parents_child_links_match_its_order_rows(ctx: EngineContext) -> None:  # noqa: F811
    pid = create_parent(ctx, "AAA", OrderSide.BUY, Decimal(300), SliceSpec("twap", 300, 3), "alice", "manual", "p1")
    work_parents(ctx)  # child 1: 100
    bar(ctx, 100, 100, 100, 100, volume=1e6, seconds=100)
    work_parents(ctx)  # child 2: 100
    inst = installation_id(ctx.store)
    assert len(inst) == 12
    with ctx.store.read() as s:
        links = list(s.scalars(select(ParentChild).where(ParentChild.parent_id == pid).order_by(ParentChild.seq)))
        rows = {r.client_order_id: r for r in s.scalars(select(OrderRow).where(OrderRow.origin == "manual"))}
    assert [link.seq for link in links] == [1, 2]
    for link in links:
        assert link.client_order_id == _hand_id(f"manual|parent-{pid}-{link.seq}|AAA|buy|{inst}")
        assert rows[link.client_order_id].qty == 100  # the link names the order the gateway recorded
    assert set(rows) == {link.client_order_id for link in links}
    assert ctx.clock.now() - links[0].created_at >= timedelta(seconds=100)
