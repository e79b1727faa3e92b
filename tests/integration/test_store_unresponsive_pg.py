"""A PostgreSQL that accepts TCP but never answers must not hang /readyz (issue: readiness blocked > 20 s, each
probe holding one of the few web threads): connecting is bounded by the store's connect timeout, the probe's
own statements by a statement_timeout that ends with its transaction."""
from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from engine.store.db import PG_CONNECT_TIMEOUT_S, Store
from tests.freeze_proxy import FreezeProxy
from tests.mute_server import MuteServer
from webapp.readiness import STATEMENT_TIMEOUT_MS, bounded_readiness, readiness

CONNECT_TIMEOUT_S = PG_CONNECT_TIMEOUT_S  # the store's connect timeout (5 s)


def _timed(store: Store, bound_s: float) -> tuple[float, Any]:
    """readiness(store) in a thread, waited for at most `bound_s` (the old code never returned)."""
    out: list[tuple[bool, str]] = []
    worker = threading.Thread(target=lambda: out.append(readiness(store)), daemon=True)
    t0 = time.monotonic()
    worker.start()
    worker.join(timeout=bound_s)
    return time.monotonic() - t0, (out[0] if out else None)


def test_readiness_answers_503_in_time_against_a_mute_postgresql():
    bound_s = 3 * CONNECT_TIMEOUT_S  # the connect timeout, plus slack for a loaded machine; never "forever"
    with MuteServer(lifetime_s=bound_s + 5) as mute:
        store = Store(f"postgresql+psycopg://postgres@127.0.0.1:{mute.port}/regimedesk")
        took, answer = _timed(store, bound_s)
        assert mute.accepted, "the probe never reached the mute server"
        assert answer is not None, f"readiness still blocked after {took:.1f} s (connect timeout {CONNECT_TIMEOUT_S} s)"
        ready, reason = answer
        assert took >= CONNECT_TIMEOUT_S * 0.9  # it waited for the connect timeout, not less
        assert not ready and reason.startswith("store did not answer in time"), reason
        assert f"{CONNECT_TIMEOUT_S} s to connect" in reason
        store.dispose()


def test_the_probe_timeout_stays_in_its_transaction_and_connections_keep_alive(pg_url):
    store = Store(pg_url)
    store.engine.pool.dispose()
    try:
        assert readiness(store) == (True, "")
        with store.engine.connect() as conn:  # the pool's one connection: the probe's SET LOCAL is gone
            assert conn.scalar(text("SHOW statement_timeout")) == "0"  # engine statements keep no limit
            dsn = conn.connection.dbapi_connection.info.dsn  # type: ignore[union-attr]
        assert f"connect_timeout={CONNECT_TIMEOUT_S}" in dsn and "keepalives=1" in dsn
        assert "keepalives_idle=" in dsn and "keepalives_interval=" in dsn and "keepalives_count=" in dsn
    finally:
        store.dispose()


def test_a_blocked_probe_statement_is_cut_by_its_own_timeout(pg_url):
    """Another session holds alembic_version locked: the probe's query waits, its statement_timeout ends it."""
    store = Store(pg_url)
    timeout_s = STATEMENT_TIMEOUT_MS / 1000
    try:
        with store.engine.connect() as locker:
            locker.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
            took, answer = _timed(store, 3 * timeout_s)
            locker.rollback()
        assert answer is not None, f"readiness still blocked after {took:.1f} s (statement timeout {timeout_s:g} s)"
        ready, reason = answer
        assert took >= timeout_s * 0.9
        assert not ready and reason.startswith("store did not answer in time"), reason
        assert readiness(store) == (True, "")  # the lock is gone: ready again
    finally:
        store.dispose()


def _probe_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "readiness-probe" and t.is_alive())


def test_readyz_is_bounded_when_postgresql_freezes_after_the_pool_connected(pg_url):
    """The server stops answering on connections the pool already holds: its statement_timeout never applies
    (readiness() alone blocked until TCP gave up, minutes). bounded_readiness answers 503 within its bound,
    later probes share the one blocked thread, and once the server answers again the desk reads ready."""
    url = make_url(pg_url)
    with FreezeProxy((url.host or "127.0.0.1", url.port or 5432), lifetime_s=60) as proxy:
        store = Store(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
        try:
            assert bounded_readiness(store) == (True, "")  # the pool now holds an open connection
            proxy.freeze()
            t0 = time.monotonic()
            ready, reason = bounded_readiness(store, wait_s=2.0)
            took = time.monotonic() - t0
            assert not ready and reason.startswith("store did not answer in time"), reason
            assert 1.8 <= took < 4.0, took
            t1 = time.monotonic()
            again = [bounded_readiness(store, wait_s=2.0) for _ in range(5)]  # arrive while the first still waits
            assert time.monotonic() - t1 < 1.0  # they do not wait again for a probe that is past its bound
            assert all(not ok and "has waited" in why for ok, why in again), again
            assert _probe_threads() == 1  # one blocked thread, not one per request
            proxy.thaw()
            deadline = time.monotonic() + 10
            while bounded_readiness(store, wait_s=2.0) != (True, "") and time.monotonic() < deadline:
                time.sleep(0.2)
            assert bounded_readiness(store, wait_s=2.0) == (True, "")
            while _probe_threads() and time.monotonic() < deadline:  # the last probe's thread is finishing
                time.sleep(0.05)
            assert _probe_threads() == 0
        finally:
            proxy.thaw()
            store.dispose()
