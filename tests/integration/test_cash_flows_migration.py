"""Migration 0014 adds cash_flows to an existing store, keeping what is in it (SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from alembic import command
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from engine.store.migrate import alembic_config, open_store, upgrade_to_head
from engine.store.models import AccountSnapshot, KeyValue

D = Decimal
T = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


def _at(url: str, revision: str) -> None:
    store = open_store(url, migrate=True)
    cfg = alembic_config()
    with store.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
        conn.commit()
    store.dispose()


def test_0014_adds_cash_flows_to_a_store_with_history(any_db_url: str) -> None:
    _at(any_db_url, "0013")
    store = open_store(any_db_url)
    try:
        assert "cash_flows" not in inspect(store.engine).get_table_names()
        with store.write() as s:  # a store in use: a snapshot and the risk engine's peak
            s.add(AccountSnapshot(ts=T, broker="alpaca", cash=D(100000), equity=D(100000), buying_power=D(200000),
                                  gross_exposure=D(0)))
            s.add(KeyValue(key="risk.equity_peak", value={"equity": "100000", "ts": T.isoformat()}, updated_at=T))
        upgrade_to_head(store)
        assert "cash_flows" in inspect(store.engine).get_table_names()
        from engine.store.models import CashFlowRow  # here: the module collects on a store without it

        with store.write() as s:
            s.add(CashFlowRow(activity_id="20261207000000000::a", broker="alpaca", kind="CSW", amount=D("-10000.5"),
                              occurred_at=T, recorded_at=T, snapshot_id=1, equity_after=D(90000), moved_marks=True))
        with store.read() as s:
            row = s.scalars(select(CashFlowRow)).one()
            assert (row.amount, row.occurred_at, row.description) == (D("-10000.5"), T, "")
            assert s.scalars(select(AccountSnapshot.equity)).one() == D(100000)  # history kept
            peak = s.get(KeyValue, "risk.equity_peak")
            assert peak is not None and peak.value["equity"] == "100000"
        with pytest.raises(IntegrityError), store.write() as s:  # one row per broker activity: never counted twice
            s.add(CashFlowRow(activity_id="20261207000000000::a", broker="alpaca", kind="CSW", amount=D(-1),
                              occurred_at=T, recorded_at=T, moved_marks=True))
    finally:
        store.dispose()
