"""engine.auth.users: disabling a disabled user, enabling an enabled one or giving a user the role they have changes
nothing (no session ends) and is audited as "unchanged", not as a second change; the CLI says so. On SQLite and
PostgreSQL."""
from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from engine.auth import cli, users
from engine.store.db import Store
from engine.store.models import AuditEvent

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def _rows(store: Store) -> list[tuple[str, str, str, str, dict[str, object]]]:
    with store.read() as s:
        return [(e.action, e.actor, e.target, e.outcome, dict(e.details or {})) for e in
                s.scalars(select(AuditEvent).where(AuditEvent.action.startswith("users.")).order_by(AuditEvent.id))]


def test_a_second_disable_or_enable_changes_nothing_and_is_audited_as_unchanged(store: Store) -> None:
    users.add_user(store, T0, "cli:setup", "bob", "viewer", "bob-has-a-long-one")
    first = users.set_disabled(store, T0, "web:admin", "bob")
    assert first.disabled and first.changed and first.session_epoch == 1
    again = users.set_disabled(store, T0, "web:admin", "bob")
    assert again.disabled and not again.changed and again.session_epoch == 1  # no session ended a second time
    enabled = users.set_disabled(store, T0, "web:admin", "bob", False)
    assert not enabled.disabled and enabled.changed and enabled.session_epoch == 2
    enabled_again = users.set_disabled(store, T0, "web:admin", "bob", False)
    assert not enabled_again.changed and enabled_again.session_epoch == 2
    same_role = users.set_role(store, T0, "web:admin", "bob", "viewer")
    assert same_role.role == "viewer" and not same_role.changed and same_role.session_epoch == 2
    assert users.set_role(store, T0, "web:admin", "bob", "trader").changed
    assert _rows(store) == [
        ("users.add", "cli:setup", "bob", "ok", {"role": "viewer"}),
        ("users.disable", "web:admin", "bob", "ok", {}),
        ("users.disable", "web:admin", "bob", "unchanged", {"unchanged": True}),
        ("users.enable", "web:admin", "bob", "ok", {}),
        ("users.enable", "web:admin", "bob", "unchanged", {"unchanged": True}),
        ("users.role", "web:admin", "bob", "unchanged", {"role": "viewer", "unchanged": True}),
        ("users.role", "web:admin", "bob", "ok", {"role": "trader"}),
    ]


def test_an_unknown_user_is_still_refused(store: Store) -> None:
    with pytest.raises(users.UserError, match="no user named 'ghost'"):
        users.set_disabled(store, T0, "web:admin", "ghost")
    assert _rows(store) == []


def test_the_cli_says_nothing_changed(store: Store) -> None:
    users.add_user(store, T0, "cli:setup", "olga", "admin", "olga-has-a-long-one")
    users.add_user(store, T0, "cli:setup", "pia", "admin", "pia-has-a-long-one")

    def run(*argv: str) -> str:
        out = io.StringIO()
        assert cli.run(list(argv), store, io.StringIO(), out, "cli:root") == 0
        return out.getvalue().strip()

    assert run("disable", "olga") == "olga disabled"
    assert run("disable", "olga") == "olga is already disabled; nothing changed"
    assert run("enable", "olga") == "olga enabled"
    assert run("enable", "olga") == "olga is already enabled; nothing changed"
    assert run("role", "pia", "admin") == "pia is already admin; nothing changed"
    assert run("role", "pia", "trader") == "pia is now trader; their sessions ended"
