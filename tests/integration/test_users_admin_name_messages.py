"""Audit 41: a user name that breaks the rule is refused with what is wrong in it, on the Users page's Add and on
the first-run setup page. "a user name is 1 to 64 letters, digits or . _ @ -" alone left the admin guessing at
"аdmin" (its first letter is Cyrillic, and looks Latin), at "trader" followed by a zero-width space, and at the
setup page's " ada" (a space a phone keyboard added). Nothing is created. Real HTTP requests to the app (Flask
test client over /_dash-update-component and /setup), on SQLite and PostgreSQL."""
from __future__ import annotations

import re
from typing import Any

import pytest

from engine.auth import setup_token, users
from engine.clock import utcnow
from tests import web_requests as wr
from tests.auth_helpers import csrf_from, login_client

PASSWORD = "quiet-river-stone-42"
RULE = "a user name is 1 to 64 letters, digits or . _ @ -"


@pytest.fixture
def app(test_settings: Any, any_db_url: str) -> Any:
    from app import create_app

    return create_app(test_settings(database_url=any_db_url, warmup_polls=10), start_engine=False)


def _store(app: Any) -> Any:
    from webapp.context import EXTENSION_KEY

    return app.server.extensions[EXTENSION_KEY].store


def _names(app: Any) -> list[str]:
    return [u.name for u in users.list_users(_store(app))]


@pytest.mark.parametrize(("name", "says"), [
    ("\u0430dmin", "this one has 'а' (U+0430 CYRILLIC SMALL LETTER A), not an ASCII letter or digit"),
    ("trader\u200b", "this one has the invisible character U+200B ZERO WIDTH SPACE, not an ASCII letter or digit"),
    ("ann smith", "this one has a space"),
    ("x" * 80, "this one has 80 characters"),
])
def test_the_users_page_says_what_is_wrong_with_a_name(app: Any, name: str, says: str) -> None:
    client = login_client(app, "admin")
    dep = wr.find(wr.dependencies(client), "users-result.children")
    before = _names(app)
    response = wr.call(client, dep, {"users-add.n_clicks": 1, "users-add-name.value": name,
                                     "users-add-role.value": "viewer", "users-add-password.value": PASSWORD,
                                     "users-add-password-again.value": PASSWORD}, trigger="users-add.n_clicks")
    assert response.status_code == 200
    alert = response.get_json()["response"]["users-result"]["children"]["props"]
    assert alert["children"] == f"refused: {RULE}: {says}" and alert["color"] == "danger"
    assert _names(app) == before


def test_the_first_run_setup_says_the_name_starts_with_a_space(app: Any) -> None:
    token = setup_token.issue(_store(app), utcnow())
    client = app.server.test_client()
    csrf = csrf_from(client.get(f"/setup?token={token}").get_data(as_text=True))
    refused = client.post("/setup", data={"csrf_token": csrf, "token": token, "username": " ada",
                                          "password": PASSWORD, "password2": PASSWORD})
    assert refused.status_code == 400
    message = re.search(r'id="auth-message"[^>]*>([^<]*)<', refused.get_data(as_text=True))
    assert message is not None
    assert message.group(1) == f"{RULE}: this one starts or ends with white space"
    assert _names(app) == []
