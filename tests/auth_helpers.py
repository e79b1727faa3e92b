"""Logged-in clients for tests: a user in the app's store, and a Flask test client or a browser
session logged in through the real /login form (never a bypass of the guard)."""
from __future__ import annotations

import re
from typing import Any

from engine.auth import users
from engine.clock import utcnow

PASSWORDS = {"viewer": "look-but-dont-touch-1", "trader": "buy-low-sell-high-1", "admin": "keys-to-the-house-1"}
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def ensure_user(app: Any, role: str, name: str | None = None) -> tuple[str, str]:
    """Create `name` (default: the role's name) with `role` in the app's store if missing; returns (name, password)."""
    from webapp.context import EXTENSION_KEY

    store = app.server.extensions[EXTENSION_KEY].store
    name = name or role
    password = PASSWORDS.get(role, "some-password-123")
    if not any(u.name == name for u in users.list_users(store)):
        users.add_user(store, utcnow(), "cli:test", name, role, password)
    return name, password


def csrf_from(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "no csrf_token field in the page"
    return match.group(1)


def login_client(app: Any, role: str = "admin", name: str | None = None) -> Any:
    """A Flask test client logged in as a user of `role`, with Dash's CSRF header set on every POST."""
    name, password = ensure_user(app, role, name)
    client = app.server.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": name, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    cookie = client.get_cookie("_csrf_token")
    assert cookie is not None
    client.environ_base["HTTP_X_CSRFTOKEN"] = cookie.value
    return client


def browser_login(dash_duo: Any, app: Any, role: str = "admin", name: str | None = None, path: str = "/") -> None:
    """Start the app's server, log in through the login page like a person, then open `path`."""
    name, password = ensure_user(app, role, name)
    dash_duo.start_server(app, navigate=False)
    base = dash_duo.server.url.rstrip("/")
    dash_duo.driver.get(base + "/login")
    dash_duo.wait_for_element("#username", timeout=15).send_keys(name)
    dash_duo.find_element("#password").send_keys(password)
    dash_duo.find_element("#auth-submit").click()
    dash_duo.server_url = base  # dash.testing: opens "/" and waits for the Dash app to render
    dash_duo.wait_for_element("#nav-user", timeout=20)
    if path != "/":
        dash_duo.driver.get(dash_duo.server_url + path)
