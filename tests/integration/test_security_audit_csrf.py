"""State-changing requests from another origin are refused (audit 5, defect 3).

The double-submit token alone was not enough: the _csrf_token cookie is readable by script and shared by every
port of a host, so a page on another port of 127.0.0.1 could read it and POST /logout with it as a form field.
Now a POST whose Origin (or, without one, Referer) is not the served origin gets 403, and the token is taken from
a form field only on /login, /setup and /logout. Real app over Flask's test client, a real SQLite store."""
from __future__ import annotations

from typing import Any

import pytest

from tests.auth_helpers import login_client
from tests.web_requests import CALLBACK_URL


@pytest.fixture
def web_app(test_settings: Any) -> Any:
    from app import create_app

    return create_app(test_settings(warmup_polls=10), start_engine=False)


def logged_in(client: Any) -> bool:
    return client.get("/_dash-layout").status_code == 200  # 401 once logged out


def token(client: Any) -> str:
    return str(client.get_cookie("_csrf_token").value)


def test_logout_from_another_port_is_refused(web_app: Any) -> None:
    client = login_client(web_app, "viewer")
    for headers in ({"Origin": "http://localhost:9999"}, {"Referer": "http://localhost:9999/attack.html"},
                    {"Origin": "null"}, {"Origin": "https://localhost"}):
        response = client.post("/logout", data={"csrf_token": token(client)}, headers=headers)
        assert response.status_code == 403, (headers, response.status_code)
        assert "not from this server" in response.get_json()["error"]
        assert logged_in(client), headers
    response = client.post("/logout", data={"csrf_token": token(client)}, headers={"Origin": "http://localhost"})
    assert response.status_code == 302 and not logged_in(client)  # the app's own page: accepted


def test_the_form_field_token_is_only_for_the_html_forms(web_app: Any) -> None:
    client = login_client(web_app, "viewer")
    header = client.environ_base.pop("HTTP_X_CSRFTOKEN")
    response = client.post(CALLBACK_URL, data={"csrf_token": header, "output": "x"})
    assert response.status_code == 403 and "CSRF" in response.get_json()["error"]
    response = client.post("/logout", data={"csrf_token": header}, headers={"Referer": "http://localhost/trading"})
    assert response.status_code == 302


def test_login_from_another_origin_is_refused(web_app: Any) -> None:
    client = web_app.server.test_client()
    page = client.get("/login").get_data(as_text=True)
    from tests.auth_helpers import csrf_from, ensure_user

    name, password = ensure_user(web_app, "viewer")
    response = client.post("/login", data={"username": name, "password": password, "csrf_token": csrf_from(page)},
                           headers={"Origin": "http://127.0.0.1:8888"})
    assert response.status_code == 403


def test_behind_a_trusted_proxy_the_public_origin_is_the_served_one(test_settings: Any) -> None:
    from app import create_app
    from tests.auth_helpers import csrf_from, ensure_user

    proxied = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_HOST": "desk.example.org",
               "HTTP_X_FORWARDED_FOR": "203.0.113.9", "HTTP_ORIGIN": "https://desk.example.org"}
    for proxies, expected in ((1, 302), (0, 403)):
        app = create_app(test_settings(warmup_polls=10, trusted_proxies=proxies, allowed_hosts="desk.example.org"),
                         start_engine=False)
        name, password = ensure_user(app, "viewer")
        client = app.server.test_client()
        client.environ_base.update(proxied)
        base = "https://desk.example.org" if proxies else "http://desk.example.org"
        page = client.get(base + "/login").get_data(as_text=True)
        login = client.post(base + "/login", data={"username": name, "password": password,
                                                   "csrf_token": csrf_from(page)})
        assert login.status_code == expected, (proxies, login.get_data(as_text=True)[:300])
        if expected == 403:  # without the proxy setting the server sees http: the message says what to set
            assert "REGIMEDESK_TRUSTED_PROXIES" in login.get_json()["error"]
