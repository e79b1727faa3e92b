"""Only the leading engine opens Alpaca's trade_updates websocket (audit 4, defect 4), on SQLite and PostgreSQL.

Two engines on one store against the fake Alpaca server and its websocket stream (real HTTP and WebSocket on
127.0.0.1): the leader authenticates one stream connection, the standby none; when the leader steps down (another
engine holds the lease at its next beat) it closes its stream.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from engine import jobs
from engine.runtime import build_context
from engine.scheduler import EngineService
from engine.settings import load_settings
from engine.store.models import EngineLease
from tests.fake_alpaca import FakeAlpacaServer

KEY, SECRET = "stream-key", "stream-secret"


def _engine(url: str, srv: FakeAlpacaServer) -> EngineService:
    settings = load_settings(database_url=url, market_source="alpaca", broker="alpaca", alpaca_key_id=KEY,
                             alpaca_secret_key=SECRET, alpaca_base_url=srv.url, alpaca_symbols="SPY",
                             alpaca_option_underlyings="", alpaca_data_timeout_s=1.0,
                             alpaca_stream_url=srv.stream_url, warmup_polls=1)
    return EngineService(build_context(settings, with_source=True, migrate=True), blocking=False)


def _until(check: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
    return check()


def test_a_standby_opens_no_stream_and_a_leader_closes_it_when_it_steps_down(any_db_url: str) -> None:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET, stream=True) as srv:
        stream_server: Any = srv.stream
        leader = _engine(any_db_url, srv)
        leader.start()
        standby = _engine(any_db_url, srv)
        try:
            assert leader.is_leader and leader.trade_updates is not None
            assert _until(lambda: stream_server.connections == 1)
            standby.start()
            assert not standby.is_leader
            time.sleep(1.0)  # time for a stream it might have opened to authenticate
            assert standby.trade_updates is None
            assert stream_server.connections == 1 and stream_server.client_count() == 1  # the leader's only

            stream, _applier = leader.trade_updates
            with leader.ctx.store.write() as s:  # another engine took the lease (a takeover while this one stalled)
                s.execute(update(EngineLease).where(EngineLease.id == 1).values(
                    holder="engine-elsewhere", epoch=EngineLease.epoch + 1,
                    lease_until=leader.ctx.clock.now() + timedelta(seconds=jobs.LEASE_SECONDS)))
            leader._beat()
            assert not leader.is_leader
            assert leader.trade_updates is None and not stream.running
            assert _until(lambda: stream_server.client_count() == 0)
        finally:
            standby.shutdown()
            leader.shutdown()
