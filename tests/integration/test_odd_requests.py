"""Requests no page sends but anyone can: an unknown script path, an oversized login form field. Each gets a
plain answer (404, 413 naming the cause), never a 500 or a traceback in the log. SQLite and PostgreSQL."""
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


def test_an_oversized_login_field_is_named_as_such(client) -> None:  # type: ignore[no-untyped-def]
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": "alice", "password": "x" * 600_000, "csrf_token": token})
    assert response.status_code == 413
    message = response.get_json()["error"]
    assert message == "refused: a form field is longer than the server accepts; nothing was changed"
    assert "upload" not in message
