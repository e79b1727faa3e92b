"""Requests no page sends but anyone can: an unknown script path, an oversized login form field. Each gets a
plain answer (404, a failed login), never a 500 or a traceback in the log. SQLite and PostgreSQL."""
from __future__ import annotations

import logging

import pytest

from tests.auth_helpers import csrf_from


@pytest.fixture
def client(test_settings, any_db_url):  # type: ignore[no-untyped-def]
    from app import create_app

    app = create_app(test_settings(database_url=any_db_url), start_engine=False)
    return app.server.test_client()


@pytest.mark.parametrize("path", ["/_dash-component-suites/nosuch/x.js", "/_dash-component-suites/dash/nosuch.js"])
def test_an_unknown_component_script_is_not_found(client, path: str, caplog) -> None:  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.INFO):
        response = client.get(path)
    assert response.status_code == 404 and response.get_json() == {"error": "not found"}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_oversized_login_password_is_a_failed_login(client) -> None:  # type: ignore[no-untyped-def]
    """600 kB in the password field: Werkzeug 3.1.9 parses a url-encoded form whole (its form memory limit applies
    to multipart parts only), and the password check refuses anything past 256 characters before argon2 sees it:
    one more wrong password, answered like any other (no 500, no upload-limit message)."""
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": "alice", "password": "x" * 600_000, "csrf_token": token})
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert "wrong user name or password" in page and "upload" not in page
