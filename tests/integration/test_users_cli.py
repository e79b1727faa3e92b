"""`python -m engine users ...` as an operator runs it: passwords from stdin, never argv; every change audited."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from engine.store.models import AuditEvent, User

ROOT = Path(__file__).resolve().parents[2]


def users_cli(db_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REGIMEDESK_DATABASE_URL": db_url}
    return subprocess.run([sys.executable, "-m", "engine", "users", *args], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=60, check=False)


def test_users_cli_add_list_role_passwd_disable(any_db_url: str) -> None:
    from engine.auth import users
    from engine.clock import utcnow
    from engine.store.migrate import open_store

    added = users_cli(any_db_url, "add", "olga", "--role", "trader", "--password-stdin", stdin="long enough pass 1\n")
    assert added.returncode == 0 and "added olga (trader)" in added.stdout, added.stderr
    short = users_cli(any_db_url, "add", "pete", "--role", "viewer", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 12 characters" in short.stderr
    twice = users_cli(any_db_url, "add", "olga", "--role", "admin", "--password-stdin", stdin="long enough pass 2\n")
    assert twice.returncode == 1 and "exists already" in twice.stderr
    bad_role = users_cli(any_db_url, "add", "zed", "--role", "root", "--password-stdin", stdin="long enough pass 3\n")
    assert bad_role.returncode == 2
    assert users_cli(any_db_url, "role", "olga", "admin").returncode == 0
    assert users_cli(any_db_url, "passwd", "olga", "--password-stdin", stdin="a new long pass 4\n").returncode == 0
    listed = users_cli(any_db_url, "list")
    assert "olga" in listed.stdout and "admin" in listed.stdout and "active" in listed.stdout
    store = open_store(any_db_url)
    try:
        assert users.authenticate(store, utcnow(), "olga", "a new long pass 4", "127.0.0.1").ok
        assert not users.authenticate(store, utcnow(), "olga", "long enough pass 1", "127.0.0.1").ok
        last = users_cli(any_db_url, "disable", "olga")  # the only admin: the desk would lose its user management
        assert last.returncode == 1 and "last active admin" in last.stderr
        assert users_cli(any_db_url, "add", "pia", "--role", "admin", "--password-stdin",
                         stdin="pia has a long one\n").returncode == 0
        assert users_cli(any_db_url, "disable", "olga").returncode == 0
        assert users.authenticate(store, utcnow(), "olga", "a new long pass 4", "127.0.0.1").status == "disabled"
        assert "disabled" in users_cli(any_db_url, "list").stdout
        with store.read() as s:
            stored = s.scalars(select(User.password_hash).where(User.name == "olga")).one()
            actions = [(e.action, e.actor.startswith("cli:")) for e in
                       s.scalars(select(AuditEvent).where(AuditEvent.action.startswith("users.")).order_by(AuditEvent.id))]
        assert stored.startswith("$argon2id$") and "a new long pass 4" not in stored
        assert actions == [("users.add", True), ("users.role", True), ("users.passwd", True), ("users.add", True),
                           ("users.disable", True)]
    finally:
        store.dispose()
