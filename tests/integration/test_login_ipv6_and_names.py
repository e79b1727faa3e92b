"""Audit findings 5 and 7, on SQLite and PostgreSQL: the lockout and the login rate limit count an IPv6 client by
its /64 (30 addresses of one /64 were 30 fresh guessers), and a user name ending in a newline is refused by the
CLI, the first-run setup form and the store (`$` matched before a final newline: 'alice\\n' became a second
account shown as 'alice')."""
from __future__ import annotations

import io
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from engine.auth import attempts, cli, setup_token, users
from engine.clock import utcnow
from engine.store.models import AuditEvent
from tests.auth_helpers import csrf_from, ensure_user

SAME_64 = "2001:db8:1:2::"


def _app(test_settings: Any, db_url: str, limit: str) -> Any:
    from app import create_app

    return create_app(test_settings(database_url=db_url, warmup_polls=10, login_rate_limit=limit), start_engine=False)


def _store(app: Any) -> Any:
    from webapp.context import EXTENSION_KEY

    return app.server.extensions[EXTENSION_KEY].store


def _login(app: Any, address: str, name: str, password: str) -> int:
    client = app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return int(client.post("/login", data={"username": name, "password": password, "csrf_token": token}).status_code)


@pytest.mark.parametrize(("address", "bucket"), [
    ("192.0.2.7", "192.0.2.7"),
    ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ("[2001:DB8:1:3::5]", "2001:db8:1:3::/64"),
    ("::ffff:192.0.2.9", "192.0.2.9"),
    ("::1", "::/64"),
    ("not an address", "not an address"),
])
def test_address_buckets(address: str, bucket: str) -> None:
    assert attempts.address_bucket(address) == bucket


def test_one_ipv6_64_is_one_address_for_the_lockout(test_settings: Any, any_db_url: str) -> None:
    app = _app(test_settings, any_db_url, "1000 per minute")
    name, password = ensure_user(app, "admin")
    codes = [_login(app, f"{SAME_64}{i:x}", name, f"guess-{i:03d}-xxxx") for i in range(1, 31)]
    assert Counter(codes) == {401: 30}
    with _store(app).read() as s:
        outcomes = Counter(s.scalars(select(AuditEvent.outcome).where(AuditEvent.action == "auth.login")))
        lockout = s.scalars(select(AuditEvent.details).where(AuditEvent.action == "auth.lockout")).all()
    assert outcomes == {"failed": 5, "locked": 25}
    assert lockout == [{"failures": 5, "minutes": 15, "source": "2001:db8:1:2::/64"}]
    assert _login(app, f"{SAME_64}ff", name, password) == 401  # the right password, same /64: locked
    assert users.locked_addresses(_store(app), utcnow()) == {name: ["2001:db8:1:2::/64"]}
    assert _login(app, "2001:db8:1:3::1", name, password) == 302  # the next /64 is someone else


def test_one_ipv6_64_is_one_address_for_the_rate_limit(test_settings: Any, any_db_url: str) -> None:
    app = _app(test_settings, any_db_url, "10 per minute")
    codes = [_login(app, f"{SAME_64}{i:x}", f"nobody{i}", "guess-guess-1") for i in range(1, 31)]
    assert codes == [401] * 10 + [429] * 20
    name, password = ensure_user(app, "viewer")
    assert _login(app, f"{SAME_64}ff", name, password) == 429
    assert _login(app, "2001:db8:1:3::1", name, password) == 302


@pytest.mark.parametrize("bad", ["alice\n", "alice\r\n", "\nalice", "ali ce", ""])
def test_check_name_refuses_a_newline_anywhere(bad: str) -> None:
    with pytest.raises(users.UserError):
        users.check_name(bad)


def test_the_cli_refuses_a_name_with_a_trailing_newline(any_db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.store.migrate import open_store

    store = open_store(any_db_url, migrate=True)
    try:
        add = ["add", "alice", "--role", "trader", "--password-stdin"]
        assert cli.run(add, store, io.StringIO("alices-passw0rd-xyz\n"), io.StringIO(), "cli:test") == 0
        add_again = ["add", "alice\n", "--role", "admin", "--password-stdin"]
        assert cli.run(add_again, store, io.StringIO("another-passw0rd-1\n"), io.StringIO(), "cli:test") == 1
        assert "refused: a user name is 1 to 64" in capsys.readouterr().err
        assert [(u.name, u.role) for u in users.list_users(store)] == [("alice", "trader")]
    finally:
        store.dispose()


def test_the_setup_form_refuses_a_name_with_a_trailing_newline(test_settings: Any, any_db_url: str) -> None:
    app = _app(test_settings, any_db_url, "10 per minute")
    client = app.server.test_client()
    token = setup_token.issue(_store(app), utcnow())
    csrf = csrf_from(client.get(f"/setup?token={token}").get_data(as_text=True))
    form = {"token": token, "username": "ada\n", "password": "analytical-engine-1",
            "password2": "analytical-engine-1", "csrf_token": csrf}
    refused = client.post("/setup", data=form)
    assert refused.status_code == 400 and "a user name is 1 to 64" in refused.get_data(as_text=True)
    assert users.count_users(_store(app)) == 0
    assert client.post("/setup", data={**form, "username": "ada"}).status_code == 302
    assert [u.name for u in users.list_users(_store(app))] == ["ada"]
