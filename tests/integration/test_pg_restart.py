"""PostgreSQL restarted under a running engine and web: both reconnect, nothing is lost, no order twice,
and the health history shows the gap.

The test starts a throwaway cluster of its own (initdb + pg_ctl on a free port in a temporary directory;
never the shared server on 5432), runs `python -m engine` and the web (`python app.py`, engine mode
none) against it, then restarts the cluster (`pg_ctl stop -m fast`, a pause, `pg_ctl start`).
About 40 s with a 3 s outage, 55 s with a 14 s one (past the 10 s lease).
"""
from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, or_, select

from engine.settings import PROJECT_ROOT
from engine.store.db import Store
from engine.store.migrate import open_store
from engine.store.models import BarRow, EngineLease, HealthResult, JobRun, OrderRow, PaperOrder
from tests.conftest import skip_or_fail

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TOKEN = "metrics-token-for-the-restart-test-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """A PostgreSQL cluster in a temporary directory, run as the postgres user when this is root."""

    def __init__(self, bindir: str, root: Path) -> None:
        self.bindir, self.root = bindir, root
        self.data, self.log = root / "data", root / "postgres.log"
        self.port = _free_port()
        self.as_owner: list[str] = []
        if os.geteuid() == 0:  # initdb and pg_ctl refuse to run as root
            owner = pwd.getpwnam("postgres")
            os.chown(root, owner.pw_uid, owner.pw_gid)
            self.as_owner = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run([*self.as_owner, *args], check=True, capture_output=True, timeout=timeout)

    def init(self) -> None:
        self._run(f"{self.bindir}/initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
                   "-c fsync=off -c max_connections=60")
        self._run(f"{self.bindir}/pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "-o", options,
                  "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(f"{self.bindir}/pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        skip_or_fail("no initdb under /usr/lib/postgresql/*/bin (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="regimedesk-pg-"))
    c = Cluster(os.path.dirname(found[-1]), root)
    try:
        c.init()
        c.start()
        import psycopg

        with psycopg.connect(c.url("postgres"), autocommit=True, connect_timeout=5) as admin:
            admin.execute("CREATE DATABASE regimedesk")
        yield c
    finally:
        with contextlib.suppress(Exception):  # already stopped
            c.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def _until(predicate, timeout: float, what: str, step: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(step)


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def _store_up(base: str) -> str | None:
    status, body = _get(f"{base}/metrics", TOKEN)
    if status != 200:
        return None
    for line in body.splitlines():
        if line.startswith("regimedesk_store_up"):
            return str(int(float(line.split()[-1])))
    return None


def _market_runs_after(store: Store, engine_id: str, after: datetime) -> int:
    try:
        with store.read() as s:
            return int(s.scalar(select(func.count()).select_from(JobRun).where(
                JobRun.engine_id == engine_id, JobRun.job == "market", JobRun.outcome == "ok",
                JobRun.started_at > after)) or 0)
    except Exception:  # noqa: BLE001 - the test's own pool meets the restart too
        return 0


@pytest.mark.parametrize("outage_s", [3.0, 14.0], ids=["short", "past-the-lease"])
def test_postgres_restart_under_engine_and_web(cluster: Cluster, tmp_path: Path, outage_s: float) -> None:
    """short: the engine keeps its lease through the outage. past-the-lease: the lease lapses meanwhile;
    the engine's writes are fenced until it beats again, it takes the lease back under a new epoch and goes on."""
    url = cluster.url("regimedesk")
    store = open_store(url, migrate=True)
    port = _free_port()
    env = {**os.environ, "REGIMEDESK_DATABASE_URL": url, "REGIMEDESK_TICK_SECONDS": "0.25",
           "REGIMEDESK_WARMUP_POLLS": "200", "REGIMEDESK_LOG_LEVEL": "INFO", "REGIMEDESK_METRICS_TOKEN": TOKEN}
    engine_log, web_log = open(tmp_path / "engine.log", "wb"), open(tmp_path / "web.log", "wb")  # noqa: SIM115
    engine = subprocess.Popen([sys.executable, "-m", "engine"], cwd=PROJECT_ROOT, env=env, stdout=engine_log,
                              stderr=subprocess.STDOUT)
    web = subprocess.Popen([sys.executable, "app.py"], cwd=PROJECT_ROOT, stdout=web_log, stderr=subprocess.STDOUT,
                           env={**env, "REGIMEDESK_ENGINE_MODE": "none", "REGIMEDESK_PORT": str(port)})
    base = f"http://127.0.0.1:{port}"
    try:
        def leader() -> str | None:
            with store.read() as s:
                lease = s.get(EngineLease, 1)
                return lease.holder if lease is not None and lease.lease_until > datetime.now(UTC) else None

        engine_id = _until(leader, 60, "the engine leads")
        with store.read() as s:
            first_epoch = s.get(EngineLease, 1).epoch  # type: ignore[union-attr]
        _until(lambda: _get(f"{base}/readyz")[0] == 200, 60, "the web is ready")
        assert _store_up(base) == "1"
        _until(lambda: _market_runs_after(store, engine_id, datetime.now(UTC) - timedelta(seconds=2)) >= 4, 30,
               "the engine ticks")
        time.sleep(6.0)  # a plan or two, an account sync, a health run

        stopped_at = datetime.now(UTC)
        cluster.stop("fast")
        down_ready = _get(f"{base}/readyz")[0]
        down_store_up = _until(lambda: _store_up(base), 10, "/metrics answers during the outage")
        time.sleep(outage_s)
        cluster.start()
        started_at = datetime.now(UTC)
        assert down_ready == 503
        assert down_store_up == "0"

        # both reconnect: the engine ticks again under the same lease, the web is ready again
        _until(lambda: _market_runs_after(store, engine_id, started_at) >= 8, 30, "the engine ticks after the restart")
        _until(lambda: _get(f"{base}/readyz")[0] == 200, 30, "the web is ready after the restart")
        _until(lambda: _store_up(base) == "1", 30, "/metrics sees the store again")
        assert engine.poll() is None and web.poll() is None

        def outage_rows() -> list:
            with store.read() as s:
                return list(s.execute(select(HealthResult.ts, HealthResult.status, HealthResult.value,
                                             HealthResult.detail).where(HealthResult.name == "database",
                                                                        HealthResult.status == "unhealthy",
                                                                        HealthResult.ts >= stopped_at)).all())

        gap = _until(outage_rows, 30, "the outage in the health history")
        ts, _status, seconds, detail = gap[0]
        assert stopped_at <= ts <= started_at, (stopped_at, ts, started_at)
        assert outage_s * 0.8 <= seconds <= (datetime.now(UTC) - stopped_at).total_seconds(), seconds
        assert "store unreachable" in detail

        time.sleep(3.0)
        with store.read() as s:
            # job runs that failed while the store was away were kept and stored afterwards
            during = s.scalar(select(func.count()).select_from(JobRun).where(
                JobRun.engine_id == engine_id, JobRun.started_at >= stopped_at, JobRun.started_at <= started_at))
            index = s.scalar(select(BarRow.symbol).group_by(BarRow.symbol).order_by(func.count().desc()).limit(1))
            bar_times = list(s.scalars(select(BarRow.ts).where(BarRow.symbol == index).order_by(BarRow.ts)))
            paper = list(s.scalars(select(PaperOrder.client_order_id)))
            rows = Counter(s.scalars(select(OrderRow.client_order_id)))
            duplicates = s.scalar(select(func.count()).select_from(OrderRow).where(or_(
                OrderRow.reject_reason.ilike("%duplicate%"), OrderRow.reject_reason.ilike("%unique%"))))
            holder = s.get(EngineLease, 1).holder  # type: ignore[union-attr]
        assert during and during >= outage_s / 0.25 * 0.5, during
        # nothing lost: the simulated market's bars polled during the outage were stored when it came back
        steps = Counter(b - a for a, b in zip(bar_times, bar_times[1:], strict=False))
        assert len(steps) == 1, f"gaps in the stored bars of {index}: {steps}"
        assert paper, "no order reached the broker around the restart: nothing was tested"
        assert len(paper) == len(set(paper)) and all(rows[c] == 1 for c in paper) and duplicates == 0
        assert max(rows.values(), default=1) == 1
        assert holder == engine_id  # no other engine: the same one leads after the outage
        with store.read() as s:
            epoch = s.get(EngineLease, 1).epoch  # type: ignore[union-attr]
        assert epoch == (first_epoch if outage_s < 10 else first_epoch + 1), (first_epoch, epoch)
        print(f"outage {seconds:.1f} s, {during} job runs recorded late, {len(bar_times)} bars, {len(paper)} orders")
    finally:
        for proc in (engine, web):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (engine, web):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        engine_log.close()
        web_log.close()
        store.dispose()
