"""The idle timeout fires while a dashboard tab only polls: a Dash callback request triggered by `dcc.Interval`
alone (or a background callback's progress poll) does not renew the idle clock; page loads and clicks do.
Real HTTP on 127.0.0.1 against the real app with a 3 s idle limit."""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

IDLE_MINUTES = 0.05  # 3 s
BANNER = {"output": "..banner-state.children...banner-box.className..",
          "outputs": [{"id": "banner-state", "property": "children"}, {"id": "banner-box", "property": "className"}],
          "inputs": [{"id": "banner-interval", "property": "n_intervals", "value": 1}], "state": [],
          "changedPropIds": ["banner-interval.n_intervals"]}
KILL_MODAL = {"output": "banner-kill-modal.is_open", "outputs": {"id": "banner-kill-modal", "property": "is_open"},
              "inputs": [{"id": "banner-kill-button", "property": "n_clicks", "value": 1},
                         {"id": "banner-kill-cancel", "property": "n_clicks", "value": None}], "state": [],
              "changedPropIds": ["banner-kill-button.n_clicks"]}


@pytest.fixture
def base_url(test_settings, sqlite_url, monkeypatch) -> Iterator[str]:  # type: ignore[no-untyped-def]
    from app import create_app
    from tests.auth_helpers import ensure_user
    from webapp.auth import sessions

    monkeypatch.setattr(sessions, "SEEN_RESOLUTION_S", 0.2)  # renew the idle clock at a grain finer than 3 s
    app = create_app(test_settings(database_url=sqlite_url, warmup_polls=10, session_idle_minutes=IDLE_MINUTES),
                     start_engine=False)
    for name in ("poller", "clicker", "reader", "waiter"):
        ensure_user(app, "viewer", name)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def login(base: str, name: str) -> requests.Session:
    from tests.auth_helpers import PASSWORDS

    session = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', session.get(base + "/login", timeout=10).text)
    assert token is not None
    response = session.post(base + "/login", data={"username": name, "password": PASSWORDS["viewer"],
                                                    "csrf_token": token.group(1)}, allow_redirects=False, timeout=30)
    assert response.status_code == 302, response.text[:300]
    return session


def callback(session: requests.Session, base: str, body: dict[str, Any], query: str = "") -> int:
    headers = {"X-CSRFToken": session.cookies.get("_csrf_token") or ""}
    return session.post(f"{base}/_dash-update-component{query}", json=body, headers=headers, timeout=30).status_code


def test_polling_alone_lets_the_idle_timeout_fire(base_url: str) -> None:
    poller, clicker = login(base_url, "poller"), login(base_url, "clicker")
    reader, waiter = login(base_url, "reader"), login(base_url, "waiter")
    deadline = time.monotonic() + 5.0  # longer than the 3 s idle limit
    statuses: dict[str, set[int]] = {"poller": set(), "clicker": set(), "reader": set(), "waiter": set()}
    for _ in range(40):  # bounded: ~12 rounds of 0.4 s fit before the deadline
        if time.monotonic() > deadline:
            break
        statuses["poller"].add(callback(poller, base_url, BANNER))
        statuses["clicker"].add(callback(clicker, base_url, KILL_MODAL))
        statuses["reader"].add(reader.get(base_url + "/trading", allow_redirects=False, timeout=30).status_code)
        statuses["waiter"].add(callback(waiter, base_url, KILL_MODAL, "?cacheKey=x&job=y"))  # a progress poll
        time.sleep(0.4)
    assert 401 in statuses["poller"] and 401 in statuses["waiter"], statuses
    assert statuses["clicker"] == {200} and statuses["reader"] == {200}, statuses
    assert poller.get(base_url + "/api/state", allow_redirects=False, timeout=30).status_code == 401
    page = poller.get(base_url + "/trading", allow_redirects=False, timeout=30)
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    assert clicker.get(base_url + "/api/state", allow_redirects=False, timeout=30).status_code in (200, 503)
