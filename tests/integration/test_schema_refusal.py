"""The engine and the web refuse to start against a schema behind or ahead of the code, with one line
saying which command to run (SQLite and PostgreSQL).

Behind: the database downgraded one migration. Ahead: the database stamped with a revision these
migration scripts do not know (what a newer release leaves behind). Checked for `python -m engine`,
`python -m engine migrate` (ahead), the web built by create_app (REGIMEDESK_ENGINE_MODE=none),
`gunicorn app:server`, and `python app.py` (web only, and embedded, which migrates itself).
About 30 s per database (each process start imports the app).
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from engine.settings import PROJECT_ROOT, load_settings
from engine.store.db import StoreError
from engine.store.migrate import alembic_config, open_store

FUTURE = "9999_from_a_newer_release"


def _code_revisions() -> tuple[str, str]:
    """(head, the one before it), read from the migration files themselves."""
    revs: dict[str, str | None] = {}
    for path in (PROJECT_ROOT / "migrations" / "versions").glob("*.py"):
        source = path.read_text()
        rev = re.search(r"^revision = ['\"](\w+)['\"]", source, re.M)
        down = re.search(r"^down_revision = (?:['\"](\w+)['\"]|None)", source, re.M)
        assert rev and down, path
        revs[rev.group(1)] = down.group(1)
    heads = set(revs) - {d for d in revs.values() if d}
    assert len(heads) == 1, heads
    head = heads.pop()
    return head, revs[head]  # type: ignore[return-value]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(args: list[str], url: str, timeout: float = 60.0, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "REGIMEDESK_DATABASE_URL": url, "REGIMEDESK_LOG_LEVEL": "WARNING",
                "REGIMEDESK_PORT": str(_free_port()), **env}
    return subprocess.run(args, cwd=PROJECT_ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)


def _set_revision(url: str, revision: str) -> None:
    store = open_store(url)
    with store.write() as s:
        s.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    store.dispose()


def _downgrade(url: str, revision: str) -> None:
    store = open_store(url)
    cfg = alembic_config()
    with store.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
        conn.commit()
    store.dispose()


def _ready(url: str) -> tuple[bool, str]:
    from webapp.readiness import readiness

    store = open_store(url)
    try:
        return readiness(store)
    finally:
        store.dispose()


def _one_line(stderr: str, must: str) -> str:
    lines = [line for line in stderr.splitlines() if must in line]
    assert len(lines) == 1, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    return lines[0]


def _refusals(url: str, must: str, expect_migrate_to_fix: bool) -> None:
    # python -m engine
    proc = _run([sys.executable, "-m", "engine"], url)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    line = _one_line(proc.stderr, must)
    assert line.startswith("database error: ")
    # the web, in-process
    settings = load_settings(database_url=url, engine_mode="none")
    from app import create_app

    with pytest.raises(StoreError, match=re.escape(must)):
        create_app(settings)
    # python app.py, web only
    proc = _run([sys.executable, "app.py"], url, REGIMEDESK_ENGINE_MODE="none")
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    _one_line(proc.stderr, must)
    # gunicorn app:server: the worker cannot boot, the arbiter stops (no restart loop), one line per worker
    proc = _run([sys.executable, "-m", "gunicorn", "app:server", "-w", "1", "-b", f"127.0.0.1:{_free_port()}"], url,
                timeout=90, REGIMEDESK_ENGINE_MODE="none")
    assert proc.returncode != 0, proc.stderr[-2000:]
    assert sum(must in line for line in proc.stderr.splitlines()) == 1, proc.stderr[-3000:]
    if expect_migrate_to_fix:
        proc = _run([sys.executable, "-m", "engine", "migrate"], url)
        assert proc.returncode == 0, proc.stderr[-2000:]
        from engine.store.check import schema_problem

        store = open_store(url)
        assert schema_problem(store) is None
        store.dispose()


def test_schema_behind_is_refused_with_the_migrate_command(any_db_url: str) -> None:
    head, previous = _code_revisions()
    open_store(any_db_url, migrate=True).dispose()
    _downgrade(any_db_url, previous)
    assert _ready(any_db_url) == (False, f"schema {previous}, this code needs {head}: run `python -m engine migrate`")
    _refusals(any_db_url, f"is at schema {previous}, the code needs {head}: run `python -m engine migrate` first",
              expect_migrate_to_fix=True)
    assert _ready(any_db_url) == (True, "")


def test_schema_ahead_is_refused_naming_the_newer_release(any_db_url: str, tmp_path: Path) -> None:
    head, _previous = _code_revisions()
    open_store(any_db_url, migrate=True).dispose()
    _set_revision(any_db_url, FUTURE)
    try:
        must = f"is at schema {FUTURE}, newer than this code (which knows up to {head})"
        assert _ready(any_db_url) == (False, f"schema {FUTURE} is newer than this code ({head}): run the release "
                                             "that migrated it")  # /readyz
        _refusals(any_db_url, must, expect_migrate_to_fix=False)
        # migrate refuses too (it must not try to "upgrade" a schema it does not know)
        proc = _run([sys.executable, "-m", "engine", "migrate"], any_db_url)
        assert proc.returncode == 2
        line = _one_line(proc.stderr, must)
        assert line.endswith(f"`alembic downgrade {head}`"), line
        # and the embedded mode, which migrates at start-up
        proc = _run([sys.executable, "app.py"], any_db_url, REGIMEDESK_ENGINE_MODE="embedded")
        assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
        _one_line(proc.stderr, must)
    finally:
        _set_revision(any_db_url, head)  # the PostgreSQL session database is shared with later tests
