"""Audit finding 3, on SQLite and PostgreSQL: two admins demoting (or disabling) each other at the same moment must
leave one active admin, and two first-run setups at once must create one user. PostgreSQL's READ COMMITTED let both
transactions count "one other active admin" and both commit (no admin left). The race is made certain, not
likely: each transaction waits at a barrier right after its check (inside engine.audit.record, which still runs),
so without a lock both pass their checks before either writes; with the lock the second waits for the first to
commit (the barrier times out) and then reads its change."""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from engine import audit
from engine.auth import users
from engine.store.db import Store

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
PASSWORD = "correct-horse-battery-9"


def _race(monkeypatch: pytest.MonkeyPatch, action: str, calls: list[Callable[[], object]]) -> list[str]:
    """Run `calls` at once, each pausing (2 s at most) at its audit row for `action`; the errors they raised."""
    barrier = threading.Barrier(len(calls))
    real = audit.record

    def record(*args: Any, **kwargs: Any) -> Any:
        if args[3] == action:
            with contextlib.suppress(threading.BrokenBarrierError):  # the other one waits for our lock: go on
                barrier.wait(timeout=2)
        return real(*args, **kwargs)

    monkeypatch.setattr(audit, "record", record)
    errors: list[str] = []

    def run(call: Callable[[], object]) -> None:
        try:
            call()
        except users.UserError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    monkeypatch.setattr(audit, "record", real)
    return errors


def _active_admins(store: Store) -> list[str]:
    return [u.name for u in users.list_users(store) if u.role == "admin" and not u.disabled]


@pytest.mark.parametrize("how", ["role", "disable"])
def test_two_admins_demoting_each_other_leave_one(store: Store, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    for name in ("alice", "bob"):
        users.add_user(store, T0, "cli:test", name, "admin", PASSWORD)

    def demote(name: str) -> Callable[[], object]:
        if how == "role":
            return lambda: users.set_role(store, T0, f"web:{name}", name, "viewer")
        return lambda: users.set_disabled(store, T0, f"web:{name}", name)

    errors = _race(monkeypatch, "users.role" if how == "role" else "users.disable", [demote("alice"), demote("bob")])
    admins = _active_admins(store)
    assert len(admins) == 1
    assert errors == [users.last_admin_message([n for n in ("alice", "bob") if n in admins][0])]


def test_two_first_run_setups_at_once_create_one_user(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    errors = _race(monkeypatch, "users.add", [
        lambda: users.add_user(store, T0, "web:ada", "ada", "admin", PASSWORD, only_if_none=True),
        lambda: users.add_user(store, T0, "web:eve", "eve", "admin", PASSWORD, only_if_none=True)])
    assert len(users.list_users(store)) == 1
    assert errors == ["a user exists already: the first-run setup is closed"]
