"""The pages' store queries on SQLite and PostgreSQL, against a store an engine has written to.

Each query's answer is checked against facts computed here from the rows themselves, so a dialect
difference (a cast, a JSON value, a time zone) cannot hide behind a page that merely renders.
"""
from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from engine.health.report import engines, health_report, history
from engine.runtime import build_context
from engine.scheduler import EngineService
from engine.settings import load_settings
from engine.store import queries, regime_queries
from engine.store.models import BarRow, JobRun, OrderRow, RegimeSnapshot
from engine.trading.brokers.base import OrderSide
from engine.trading.gateway import OrderIntent, submit


def test_page_queries_answer_from_an_engine_written_store(any_db_url: str) -> None:
    settings = load_settings(database_url=any_db_url, tick_seconds=0.25, warmup_polls=300)
    ctx = build_context(settings, with_source=True, migrate=True)
    service = EngineService(ctx, blocking=False)
    service.start()
    try:
        deadline = time.time() + 40
        while True:  # until the health job stored a run and a regime exists
            with ctx.store.read() as session:
                done = session.scalar(select(func.count()).select_from(RegimeSnapshot)) and health_report(ctx)["results_at"]
            if done:
                break
            assert time.time() < deadline, "the engine stored no regime or health results in time"
            time.sleep(0.5)
        symbol = ctx.source.symbols()[1]  # type: ignore[union-attr]
        result = submit(ctx, OrderIntent(symbol=symbol, side=OrderSide.BUY, qty=Decimal(3), idempotency_key="pq"),
                        actor="test", origin="manual")
        assert result.accepted, result
        time.sleep(1.5)  # a market tick fills it, an account sync stores it
    finally:
        service.shutdown(actor="test", flatten=False)
    now = ctx.clock.now()
    with ctx.store.read() as session:
        index = queries.index_symbol(session)
        assert index == ctx.source.index_symbol()  # type: ignore[union-attr]
        newest = session.scalar(select(func.max(BarRow.ts)).where(BarRow.symbol == index))
        frame = queries.bars(session, index, limit=50)
        assert len(frame) == 50 and frame["timestamp"].max() == newest
        prices = {p["symbol"]: p for p in queries.latest_prices(session)}
        assert set(prices) == set(ctx.source.symbols())  # type: ignore[union-attr]
        orders = {o["client_order_id"]: o for o in queries.orders(session, limit=1000)}
        stored = session.scalar(select(OrderRow).where(OrderRow.client_order_id == result.client_order_id))
        assert orders[stored.client_order_id]["status"] == stored.status
        assert orders[stored.client_order_id]["qty"] == 3.0
        fills = [f for f in queries.fills(session, limit=1000) if f["client_order_id"] == stored.client_order_id]
        assert sum(f["qty"] for f in fills) == float(stored.filled_qty)
        runs = session.scalar(select(func.count()).where(JobRun.job == "market", JobRun.outcome == "ok",
                                                         JobRun.started_at >= now - timedelta(minutes=15)))
        stats = {s["job"]: s for s in queries.job_stats(session, now)}
        assert stats["market"]["runs"] == runs and stats["market"]["errors"] == 0
        assert queries.trading_state(session)["state"] in ("ACTIVE", "STOPPED")
        latest = regime_queries.latest_regime(session)
        snap = session.scalars(select(RegimeSnapshot).order_by(RegimeSnapshot.id.desc()).limit(1)).first()
        assert latest is not None and latest["regime_id"] == snap.regime_id
        assert len(regime_queries.regime_history(session, limit=10)) >= 1
        counts = queries.row_counts(session)
        assert counts["bars"] == session.scalar(select(func.count()).select_from(BarRow))
        assert history(session, now - timedelta(minutes=5))["database"]
        rows = engines(session, now)
        assert rows[0]["engine"] == ctx.engine_id and rows[0]["liveness"] == "stopped"
    ctx.store.dispose()
