"""Parameters page: Apply, Upload and Roll back are disabled, with a tooltip naming the role needed, for a role that
may not use them (viewer, trader), enabled for an admin; the server still refuses a forged request.

Expectations come from the rule as documented in engine/auth/roles.py ("admin: also parameters and users"), written
out here, not from the page's own helper. Everything is called over HTTP the way the browser calls it.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dash
import pytest

from engine.params.versions import active_params, ensure_default_version, list_versions
from tests import web_requests as wr
from tests.auth_helpers import login_client

ROLES = ("viewer", "trader", "admin")
MAY_CHANGE_PARAMETERS = {"viewer": False, "trader": False, "admin": True}
ATR = "ATRIndicatorsConfig|main|atr_period"  # an integer from 7 to 21, 14 in the defaults


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, Any], Any]]:
    from app import create_app
    from engine.settings import load_settings
    from webapp.context import EXTENSION_KEY

    url = f"sqlite:///{tmp_path_factory.mktemp('roles') / 'desk.db'}"
    settings = load_settings(database_url=url, tick_seconds=0.25, warmup_polls=10, port=8050, deadman_seconds=0)
    app = create_app(settings, start_engine=False)
    store = app.server.extensions[EXTENSION_KEY].store
    ensure_default_version(store)
    clients = {role: login_client(app, role) for role in ROLES}
    yield app, clients, store


def _walk(node: Any, parent: Any = None) -> Iterator[tuple[dict[str, Any], Any]]:
    """(component, parent component) for every component of a serialised Dash layout."""
    if isinstance(node, list):
        for item in node:
            yield from _walk(item, parent)
    elif isinstance(node, dict) and "props" in node:
        yield node, parent
        yield from _walk(node["props"].get("children"), node)


def _layout(client: Any, page: str = "/parameters") -> Any:
    router = wr.find(wr.dependencies(client), "_pages_content.children")
    path = next(p["path"] for p in dash.page_registry.values() if p["path"] == page)
    response = wr.call(client, router, {"_pages_location.pathname": path})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_json()["response"]["_pages_content"]["children"]


def _find(layout: Any, ident: str) -> tuple[dict[str, Any], Any]:
    hits = [(node, parent) for node, parent in _walk(layout) if node["props"].get("id") == ident]
    assert len(hits) == 1, ident
    return hits[0]


def _tooltip(parent: Any) -> str | None:
    return parent["props"].get("title") if parent and parent.get("type") == "Span" else None


@pytest.mark.parametrize("role", ROLES)
def test_layout_disables_apply_upload_and_rollback_for_a_role_that_may_not_use_them(web, role: str) -> None:  # type: ignore[no-untyped-def]
    _app, clients, _store = web
    layout = _layout(clients[role])
    may = MAY_CHANGE_PARAMETERS[role]
    upload, upload_parent = _find(layout, "parameters-upload")
    assert bool(upload["props"].get("disabled")) is not may
    inner = upload["props"]["children"]
    assert inner["type"] == "Button" and bool(inner["props"].get("disabled")) is not may
    rollback, rollback_parent = _find(layout, "parameters-rollback")
    assert bool(rollback["props"].get("disabled")) is not may
    apply, apply_parent = _find(layout, "parameters-apply")
    assert apply["props"]["disabled"] is True  # for every role until there is something to apply
    for parent, action in ((apply_parent, "Applying"), (upload_parent, "Uploading"), (rollback_parent, "Rolling back")):
        if may:
            assert _tooltip(parent) is None
        else:
            tip = _tooltip(parent)
            assert tip is not None and tip.startswith(action) and f"needs the admin role; you are {role}" in tip
    note = [n for n, _p in _walk(layout) if n["props"].get("id") == "parameters-read-only"]
    assert (note == []) is may
    if not may:
        assert "need the admin role" in str(note[0]["props"]["children"])


MAY_VALIDATE = {"viewer": False, "trader": True, "admin": True}  # "trader: ... run a tuning validation" (README)


@pytest.mark.parametrize("role", ROLES)
def test_tuning_and_backtest_buttons_follow_the_role(web, role: str) -> None:  # type: ignore[no-untyped-def]
    """Approve / Reject a tuning proposal: admin; Validate by backtest and Run backtest: trader and admin. A role
    below sees them disabled with a title naming the role (a click was a 403 and an error toast)."""
    _app, clients, _store = web
    layout = _layout(clients[role])
    for ident, may in (("parameters-tuning-approve", MAY_CHANGE_PARAMETERS[role]),
                       ("parameters-tuning-reject", MAY_CHANGE_PARAMETERS[role]),
                       ("parameters-tuning-validate", MAY_VALIDATE[role])):
        button, _parent = _find(layout, ident)
        assert button["props"]["disabled"] is (not may), ident
        needed = "admin" if "validate" not in ident else "trader"
        assert (button["props"].get("title") == f"needs the {needed} role; you are {role}") is (not may), ident
    run, _parent = _find(_layout(clients[role], "/backtest"), "backtest-run")
    assert run["props"]["disabled"] is (not MAY_VALIDATE[role])


@pytest.mark.parametrize("role", ROLES)
def test_apply_stays_disabled_with_valid_edits_unless_the_role_may_apply(web, role: str) -> None:  # type: ignore[no-untyped-def]
    _app, clients, _store = web
    client = clients[role]
    dep = wr.find(wr.dependencies(client), "parameters-apply.disabled", "parameters-edits")
    response = wr.call(client, dep, {"parameters-edits.data": {ATR: 18}, "parameters-base.data": {},
                                     "parameters-sheet.data": "ATRIndicatorsConfig"})
    assert response.status_code == 200
    out = response.get_json()["response"]
    assert out["parameters-apply"]["disabled"] is (not MAY_CHANGE_PARAMETERS[role])
    assert out["parameters-pending-count"]["children"] == "1 pending edit"  # the preview works for everyone


def _versions(store: Any) -> int:
    with store.read() as s:
        return len(list_versions(s, 50))


@pytest.mark.parametrize("role", ["viewer", "trader"])
def test_a_forged_apply_upload_or_rollback_is_still_refused(web, role: str) -> None:  # type: ignore[no-untyped-def]
    _app, clients, store = web
    client = clients[role]
    deps = wr.dependencies(client)
    before = _versions(store)
    apply = wr.find(deps, "parameters-apply-note.value", "parameters-apply-confirm")
    response = wr.call(client, apply, {"parameters-apply-confirm.n_clicks": 1, "parameters-edits.data": {ATR: 19},
                                       "parameters-base.data": {"version_id": None},
                                       "parameters-apply-note.value": "forged"},
                       trigger="parameters-apply-confirm.n_clicks")
    assert response.status_code == 403
    assert f"needs the admin role; you are {role}" in response.get_data(as_text=True)
    rollback = wr.find(deps, "parameters-rollback-note.value", "parameters-rollback-confirm")
    response = wr.call(client, rollback, {"parameters-rollback-confirm.n_clicks": 1,
                                          "parameters-version-pick.value": "1"},
                       trigger="parameters-rollback-confirm.n_clicks")
    assert response.status_code == 403
    upload = wr.find(deps, "parameters-upload-result.children", "parameters-upload")
    response = wr.call(client, upload, {"parameters-upload.contents": "data:;base64,AAAA",
                                        "parameters-upload.filename": "x.xlsx"},
                       trigger="parameters-upload.contents")
    assert response.status_code == 403
    assert _versions(store) == before


def test_admin_apply_still_works(web) -> None:  # type: ignore[no-untyped-def]
    _app, clients, store = web
    client = clients["admin"]
    before = _versions(store)
    with store.read() as s:
        active = active_params(s).version_id
    dep = wr.find(wr.dependencies(client), "parameters-apply-note.value", "parameters-apply-confirm")
    response = wr.call(client, dep, {"parameters-apply-confirm.n_clicks": 1, "parameters-edits.data": {ATR: 17},
                                     "parameters-base.data": {"version_id": active},
                                     "parameters-apply-note.value": "admin"},
                       trigger="parameters-apply-confirm.n_clicks")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert "is now active" in str(response.get_json()["response"]["parameters-message"])
    assert _versions(store) == before + 1


def test_the_page_reads_the_same_roles_the_guard_enforces(web) -> None:  # type: ignore[no-untyped-def]
    """The guard's lookup on the live app's callback map and the page's permits name the same role per control."""
    from webapp import param_access
    from webapp.auth.access import callback_role

    app, _clients, _store = web
    outputs = {param_access.APPLY: "parameters-apply-modal.is_open",
               param_access.UPLOAD: "parameters-upload-result.children",
               param_access.ROLLBACK: "parameters-rollback-modal.is_open"}
    for control, needle in outputs.items():
        key = next(k for k in app.callback_map if needle in k)
        assert callback_role(app.callback_map, key) == "admin"
        for role in ROLES:
            assert param_access.permit(role, control).needed == "admin"
            assert param_access.permit(role, control).allowed is MAY_CHANGE_PARAMETERS[role]
