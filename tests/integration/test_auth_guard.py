"""Every route and callback has a declared role; anonymous and under-privileged requests are refused
server-side, change nothing, and (for logged-in users) are audited. Runs on SQLite and PostgreSQL."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from engine.auth.roles import RANK
from engine.store.models import AuditEvent
from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.store_snapshot import fingerprint
from webapp.auth.access import PUBLIC, TOKEN, callback_role, route_access
from webapp.auth.guard import LOGOUT_ENDPOINT, PAGE_ENDPOINTS


@pytest.fixture
def web_app(test_settings, any_db_url):  # type: ignore[no-untyped-def]
    """The web app on SQLite or PostgreSQL, no engine running (so nothing but the request changes the store)."""
    from app import create_app
    from engine.clock import utcnow
    from engine.trading.state import ensure_state

    app = create_app(test_settings(database_url=any_db_url, warmup_polls=20), start_engine=False)
    app.server.test_client().get("/login")  # Dash merges its callback registry on the first request
    with store_of(app).write() as s:
        ensure_state(s, utcnow())
    return app


def store_of(app: Any) -> Any:
    from webapp.context import EXTENSION_KEY

    return app.server.extensions[EXTENSION_KEY].store


def test_every_flask_route_and_dash_callback_declares_who_may_call_it(web_app) -> None:  # type: ignore[no-untyped-def]
    undeclared_routes = [r.rule for r in web_app.server.url_map.iter_rules() if route_access(r.endpoint) is None]
    assert undeclared_routes == []
    undeclared = [k for k in web_app.callback_map if callback_role(web_app.callback_map, k) is None]
    assert undeclared == []
    assert len(web_app.callback_map) >= 40  # the enumeration really saw the app's callbacks


def test_anonymous_clients_are_refused_everywhere_but_the_public_routes(web_app) -> None:  # type: ignore[no-untyped-def]
    client = web_app.server.test_client()
    deps = wr.dependencies(login_client(web_app, "admin"))  # what the renderer would be told, read as an admin
    before = fingerprint(store_of(web_app))
    for rule in web_app.server.url_map.iter_rules():
        access = route_access(rule.endpoint)
        if access == PUBLIC or "<" in rule.rule and rule.endpoint not in PAGE_ENDPOINTS:
            continue
        path = rule.rule.replace("<path:path>", "trading")
        method = "POST" if "POST" in rule.methods and "GET" not in rule.methods else "GET"
        response = client.open(path, method=method, json={} if method == "POST" else None)
        if rule.endpoint in PAGE_ENDPOINTS or rule.endpoint == LOGOUT_ENDPOINT:  # logout: guard.logout_refusal
            assert response.status_code == 302 and "/login" in response.headers["Location"], path
        elif access == TOKEN:
            assert response.status_code == 401, path
        else:
            assert response.status_code == 401, (path, response.status_code)
    # every callback, by hand-crafted request, without a session
    for dep in deps:
        response = client.post(wr.CALLBACK_URL, json=wr.build_body(dep))
        assert response.status_code == 401, dep["output"]
    assert fingerprint(store_of(web_app)) == before


# Each protected callback, the input that fires it, and the values a real click sends.
PROTECTED = [
    ("trading-action-result.children", "trading-pause-button", {"trading-pause-button.n_clicks": 1}),
    ("trading-action-result.children", "trading-resume-button", {"trading-resume-button.n_clicks": 1}),
    ("trading-action-result.children", "trading-shutdown-confirm", {"trading-shutdown-confirm.n_clicks": 1}),
    ("trading-ticket-result.children", "trading-ticket-submit",
     {"trading-ticket-submit.n_clicks": 1, "trading-ticket-symbol.value": "ALFA", "trading-ticket-side.value": "buy",
      "trading-ticket-qty.value": 5, "trading-ticket-type.value": "market",
      "trading-ticket-nonce.data": "0123456789abcdef"}),
    ("planner-send-result.children", "planner-send-confirm", None),
    ("trading-close-result.children", "trading-close-confirm", None),
    ("planner-save-message.children", "planner-save", None),
    ("planner-regime-message.children", "planner-regime-save", None),
    ("planner-restore-message.children", "planner-restore", None),
    ("parameters-apply-modal.is_open", "parameters-apply-confirm", None),
    ("parameters-rollback-modal.is_open", "parameters-rollback-confirm", None),
    ("parameters-upload-result.children", "parameters-upload", None),
]


def _protected_deps(deps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for out, trigger, _values in PROTECTED:
        hits = [d for d in deps if out in d["output"] and any(trigger in str(i["id"]) for i in d["inputs"])]
        assert hits, (out, trigger)
        found.extend(hits)
    return found


@pytest.mark.parametrize("role", ["viewer", "trader"])
def test_hand_crafted_requests_above_the_users_role_are_refused_audited_and_change_nothing(web_app, role: str) -> None:  # type: ignore[no-untyped-def]
    client = login_client(web_app, role)
    deps = wr.dependencies(client)
    store = store_of(web_app)
    refused = 0
    for dep in deps:
        needed = callback_role(web_app.callback_map, dep["output"])
        assert needed is not None
        if RANK[needed] <= RANK[role]:
            continue
        before = fingerprint(store)
        for i, _spec in enumerate(dep["inputs"]):
            body = wr.build_body(dep, {j: 1 for j in range(len(dep["inputs"]))}, changed=i)
            response = client.post(wr.CALLBACK_URL, json=body)
            assert response.status_code == 403, (dep["output"], response.status_code)
            assert f"needs the {needed} role" in response.get_json()["error"]
            refused += 1
        assert fingerprint(store) == before, dep["output"]
    assert refused >= (10 if role == "viewer" else 3)
    with store.read() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "auth.refused")))
    assert len(events) == refused
    assert {e.actor for e in events} == {f"web:{role}"} and {e.role for e in events} == {role}
    assert all(e.source == "127.0.0.1" and e.outcome == "refused" for e in events)


def test_protected_callbacks_are_the_ones_declared_above_viewer(web_app) -> None:  # type: ignore[no-untyped-def]
    deps = wr.dependencies(login_client(web_app, "admin"))
    for dep in _protected_deps(deps):
        assert callback_role(web_app.callback_map, dep["output"]) in ("trader", "admin"), dep["output"]


def test_the_same_request_works_for_a_trader_and_is_refused_for_a_viewer(web_app) -> None:  # type: ignore[no-untyped-def]
    """A positive control: the hand-crafted request is a real one (it saves a planner preset for a trader)."""
    from engine.planner.api import SLIDERS, list_presets

    store = store_of(web_app)
    dep = wr.find(wr.dependencies(login_client(web_app, "admin")), "planner-save-message.children", "planner-save")
    sliders = wr.Matches(({"name": s.name}, 1.0) for s in SLIDERS)  # every slider at 1.0
    values = {"planner-save.n_clicks": 1, '{"name":["ALL"],"type":"planner-slider"}.value': sliders,
              '{"name":["ALL"],"type":"planner-switch"}.id': wr.Matches([]),
              '{"name":["ALL"],"type":"planner-switch"}.value': wr.Matches([]),
              "planner-save-name.value": "all-in", "planner-preset.value": "default"}
    viewer = login_client(web_app, "viewer")
    assert wr.call(viewer, dep, values, trigger="planner-save.n_clicks").status_code == 403
    with store.read() as s:
        assert "all-in" not in list_presets(s)
    trader = login_client(web_app, "trader")
    response = wr.call(trader, dep, values, trigger="planner-save.n_clicks")
    assert response.status_code == 200 and "Saved 'all-in' version 1" in response.get_data(as_text=True)
    with store.read() as s:
        assert list_presets(s)["all-in"].sliders["risk_appetite"] == 1.0
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "planner.save_preset")).one()
    assert (event.actor, event.role, event.source) == ("web:trader", "trader", "127.0.0.1")


def test_a_viewer_may_halt_but_not_flatten(web_app) -> None:  # type: ignore[no-untyped-def]
    from engine.trading import state as trading_state

    store = store_of(web_app)
    viewer = login_client(web_app, "viewer")
    dep = wr.find(wr.dependencies(viewer), "trading-action-result.children", "trading-kill-confirm")
    flatten = wr.call(viewer, dep, {"trading-kill-confirm.n_clicks": 1, "trading-kill-flatten.value": True})
    assert flatten.status_code == 200 and "with flatten needs the trader role" in flatten.get_data(as_text=True)
    with store.read() as s:
        assert trading_state.current(s).state.value == "ACTIVE"
    halt = wr.call(viewer, dep, {"trading-kill-confirm.n_clicks": 1, "trading-kill-flatten.value": False})
    assert halt.status_code == 200, halt.get_data(as_text=True)
    with store.read() as s:
        assert trading_state.current(s).state.value == "HALTED"
