"""Shared fixtures: temporary SQLite/PostgreSQL stores, app factories, and the headless Chromium setup.

PostgreSQL and browser tests skip where the server or the browser is absent, unless
REGIMEDESK_REQUIRE_ALL=1 (set by .ci/run), which turns every such skip into a failure.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRE_ALL = os.environ.get("REGIMEDESK_REQUIRE_ALL") == "1"
PG_ADMIN_URL = os.environ.get("REGIMEDESK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def skip_or_fail(reason: str) -> None:
    """Skip on a laptop without the service; fail in CI, where everything must run."""
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (REGIMEDESK_REQUIRE_ALL=1 forbids skipping)")
    pytest.skip(reason)


def pytest_setup_options():  # type: ignore[no-untyped-def]
    """dash[testing] passes these Chrome options to webdriver.Chrome (see shared/notes/dash-testing.md)."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    if CHROMIUM:
        options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1280,1024"):
        options.add_argument(arg)
    return options


# Whole files of process, restart and multi-worker tests (each tens of seconds to minutes): marked slow,
# so `python -m pytest` (the README's command) runs the rest and CI runs `python -m pytest -m slow` as its
# second, still-required step. Single slow tests elsewhere carry @pytest.mark.slow themselves.
SLOW_FILES = frozenset({
    "test_engine_takeover.py", "test_schema_refusal.py", "test_web_workers.py", "test_deploy_examples.py",
    "test_kill_switch_cli.py", "test_market_clock.py", "test_engine_process.py",
})


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    """Mark browser tests; each gets one rerun (pytest-rerunfailures) because a real Chromium, a
    threaded Dash server and an embedded engine share two cores here, and a stall of several seconds
    on a loaded CI machine is not a product defect. A rerun is reported as "R" in the summary; a test
    that fails twice fails the run."""
    for item in items:
        if Path(str(item.fspath)).name in SLOW_FILES:
            item.add_marker(pytest.mark.slow)
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.xdist_group("browser"))  # one worker: dash_duo serves on port 8050
            item.add_marker(pytest.mark.flaky(reruns=1, reruns_delay=2))


@pytest.fixture(autouse=True)
def _browser_available(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("browser") and not (CHROMIUM and shutil.which("chromedriver")):
        skip_or_fail("Chromium and chromedriver are needed for browser tests (apt-get install chromium chromium-driver)")


def pytest_sessionfinish(session, exitstatus):  # type: ignore[no-untyped-def]
    """End child processes the tests left behind before the interpreter waits for them at exit.

    The Regime page's what-if runs as a Dash background job, forked by the diskcache manager from the
    test runner (where dash_duo's server threads and engines use SQLite). A fork taken while another
    thread holds SQLite's or diskcache's lock leaves a child that never finishes, and multiprocess
    joins every child at exit: the run would hang after its summary. Killing them here is safe: every
    test has finished and reported."""
    import psutil

    if getattr(session.config.option, "numprocesses", None) and not hasattr(session.config, "workerinput"):
        return  # the pytest-xdist controller: its children are the workers, which clean up their own
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            child.kill()


@pytest.fixture(autouse=True)
def _no_deadman_watcher_leak() -> Iterator[None]:
    """Every app a test builds starts a dead-man's watcher thread on the wall clock; one left running
    acted on a later test's staged incident in the shared PostgreSQL database (CI: the racing-watchers
    test found its incident already taken). After each test, this process's watchers stop."""
    yield
    from webapp.deadman import stop_all

    stop_all()


@pytest.fixture(autouse=True)
def _runtime_guards_off() -> Iterator[None]:
    """The engine's process-wide latency and memory guards (engine/runtime_guards.GUARDS: ValidationRules VAL011
    and VAL010) act on wall-clock time and this process's memory: one slow cycle on a loaded CI machine would make
    every later test in the worker skip the ensemble. Off and fresh for every test; the tests of the guards turn
    them on (a fresh RuntimeGuards())."""
    from engine.runtime_guards import GUARDS, RuntimeGuards

    vars(GUARDS).update(vars(RuntimeGuards(enabled=False)))
    yield
    vars(GUARDS).update(vars(RuntimeGuards(enabled=False)))


@pytest.fixture(autouse=True)
def _no_notification_targets_leak() -> Iterator[None]:
    """A test that configures notification targets (process-wide in engine.notify) must not leave them
    to every later test: after each test the process's notifier sends nowhere again."""
    yield
    from engine import notify

    if notify.current().enabled:
        notify.configure([])


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'regimedesk.db'}"


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    try:
        import psycopg

        admin = psycopg.connect(PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True,
                                connect_timeout=3)
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server here"
        skip_or_fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")
        return
    name = f"regimedesk_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """The session database, emptied before each test so tests do not see each other's rows."""
    from sqlalchemy import text

    from engine.store.migrate import open_store
    from engine.store.models import Base

    store = open_store(pg_server_url, migrate=True)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with store.write() as session:
        session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    store.dispose()
    yield pg_server_url


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run a test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'regimedesk.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def test_settings(sqlite_url: str):  # type: ignore[no-untyped-def]
    """Settings for a fast embedded engine on a temporary SQLite store."""
    from engine.settings import load_settings

    def make(**overrides: object):  # type: ignore[no-untyped-def]
        # deadman_seconds=0: no dead-man watcher thread per app unless a test asks for one (a watcher left
        # running would halt the next test's store 30 s after its engine stops, and outlive its database)
        values = {"database_url": sqlite_url, "tick_seconds": 0.25, "warmup_polls": 300, "port": 8050,
                  "deadman_seconds": 0}
        values.update(overrides)
        return load_settings(**values)

    return make


@pytest.fixture
def embedded_app(test_settings):  # type: ignore[no-untyped-def]
    """A Dash app with its embedded engine running; the engine is shut down after the test."""
    from app import ENGINE_KEY, create_app

    apps = []

    def make(**overrides: object):  # type: ignore[no-untyped-def]
        app = create_app(test_settings(**overrides), start_engine=True)
        apps.append(app)
        return app

    yield make
    for app in apps:
        watcher = app.server.extensions.get("regimedesk_deadman")
        if watcher is not None:
            watcher.stop()
        service = app.server.extensions.get(ENGINE_KEY)
        if service is not None:
            service.shutdown()
