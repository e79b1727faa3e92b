"""The engine on an Alpaca market source over real HTTP (fake server): start-up retried step by step,
jobs bounded by their interval, Alpaca periods in the schedule."""
from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from engine import jobs
from engine.cycle import EngineCycle
from engine.job_specs import job_specs
from engine.runtime import build_context
from engine.scheduler import EngineService
from engine.settings import load_settings
from engine.store.models import BarRow, JobRun, TradingStateRow
from tests.fake_alpaca import FakeAlpacaServer

KEY, SECRET = "engine-key", "engine-secret"


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as srv:
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        for i in range(30):
            srv.book.add_bar("SPY", now - timedelta(minutes=30 - i), 500, 501, 499, 500.5, 1000)
        yield srv


def alpaca_ctx(url: str, srv: FakeAlpacaServer, **kw: object):  # type: ignore[no-untyped-def]
    settings = load_settings(database_url=url, market_source="alpaca", alpaca_key_id=KEY, alpaca_secret_key=SECRET,
                             alpaca_base_url=srv.url, alpaca_symbols="SPY", alpaca_option_underlyings="",
                             alpaca_data_timeout_s=1.0, **{"warmup_polls": 600, **kw})
    return build_context(settings, with_source=True, migrate=True)


def test_a_failed_start_up_step_is_retried_and_the_later_steps_still_run(any_db_url: str, server: FakeAlpacaServer) -> None:
    ctx = alpaca_ctx(any_db_url, server)
    server.inject("GET", "/v2/stocks/bars", "504", times=50)  # the warm-up fails for now
    service = EngineService(ctx, blocking=False)
    service._beat()  # becomes leader and runs the start-up
    with ctx.store.read() as s:
        runs = {r.job: r.outcome for r in s.scalars(select(JobRun))}
        assert runs["startup: instruments"] == "ok"
        assert runs["startup: market history"] == "error"
        assert runs["startup: trading state"] == "ok", "the step after the failed one ran"
        assert s.get(TradingStateRow, 1) is not None
        assert list(s.scalars(select(BarRow))) == []
    assert service._startup_pending == ["market history"]
    server.clear_faults()
    service._beat()  # the next beat retries only what failed
    with ctx.store.read() as s:
        assert len(list(s.scalars(select(BarRow)))) == 30
        ok = [r.job for r in s.scalars(select(JobRun).where(JobRun.outcome == "ok"))]
    assert ok.count("startup: market history") == 1 and ok.count("startup: trading state") == 1
    assert service._startup_pending == []
    assert server.hits_for("GET", "/v2/stocks/bars") <= 50 + 1, "the warm-up is one request, not 600 polls"
    service.finish()


def test_alpaca_periods_and_a_slow_market_job_never_overruns(any_db_url: str, server: FakeAlpacaServer) -> None:
    ctx = alpaca_ctx(any_db_url, server, alpaca_poll_seconds=2.0)
    specs = {s.name: s for s in job_specs(ctx, EngineCycle())}
    assert specs["market"].seconds == 2.0, "1-minute bars: no polling every second"
    server.inject("GET", "/v2/stocks/bars", "stall", delay_s=10.0, times=3)
    started = time.monotonic()
    ok = jobs.run_recorded(ctx, "market", specs["market"].run)
    elapsed = time.monotonic() - started
    assert not ok and elapsed < 2.0, f"the market job took {elapsed:.2f} s with a 2 s interval"
    with ctx.store.read() as s:
        error = s.scalars(select(JobRun.error).where(JobRun.job == "market")).one()
    assert "1-minute bars" in (error or "") and "next tick retries" in (error or "")


def test_the_engine_runs_the_trade_updates_stream_with_an_alpaca_broker(any_db_url: str) -> None:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET, stream=True) as srv:
        ctx = alpaca_ctx(any_db_url, srv, broker="alpaca", alpaca_stream_url=srv.stream_url, warmup_polls=1)
        service = EngineService(ctx, blocking=False)
        service.start()
        try:
            assert service.trade_updates is not None
            stream, applier = service.trade_updates
            deadline = time.monotonic() + 5
            while srv.stream is not None and srv.stream.client_count() < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert srv.stream is not None and srv.stream.client_count() == 1 and stream.connections == 1
        finally:
            service.shutdown()
        assert not stream.running, "stopped with the engine"


def test_a_slow_alpaca_broker_never_makes_the_account_job_overrun(any_db_url: str, server: FakeAlpacaServer) -> None:
    ctx = alpaca_ctx(any_db_url, server, broker="alpaca", alpaca_sync_seconds=2.0, alpaca_order_timeout_s=10.0)
    specs = {s.name: s for s in job_specs(ctx, EngineCycle())}
    assert specs["account"].seconds == 2.0 and specs["risk"].seconds == 2.0
    server.inject("GET", "/v2/account", "stall", delay_s=10.0, times=5)
    started = time.monotonic()
    ok = jobs.run_recorded(ctx, "account", specs["account"].run)
    elapsed = time.monotonic() - started
    assert not ok and elapsed < 2.0, f"the account job took {elapsed:.2f} s with a 2 s interval (10 s call deadline)"
