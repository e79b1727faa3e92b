"""Users page review (admin): a role change, disable, enable and a new password are confirmed in a dialog that says
what will happen; Cancel changes nothing; disabling a disabled user (enabling an enabled one) says nothing changed
and audits no change. Real callbacks over HTTP as a logged-in admin, on SQLite and PostgreSQL."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from engine.auth import users
from engine.clock import utcnow
from engine.store.models import AuditEvent
from tests import web_requests as wr
from tests.auth_helpers import login_client

PASSWORD = "a-long-enough-pass-1"


@pytest.fixture
def app(test_settings, any_db_url):  # type: ignore[no-untyped-def]
    from app import create_app

    return create_app(test_settings(database_url=any_db_url, warmup_polls=10), start_engine=False)


def _store(app):  # type: ignore[no-untyped-def]
    from webapp.context import EXTENSION_KEY

    return app.server.extensions[EXTENSION_KEY].store


class Page:
    """The Users page's change callback, driven like the browser drives it (the pending change kept in the page)."""

    def __init__(self, app: Any, name: str | None = None) -> None:
        self.client = login_client(app, "admin", name)
        self.deps = wr.dependencies(self.client)
        self.dep = wr.find(self.deps, "users-result.children")
        self.pending: Any = None

    def press(self, button: str, **values: object) -> dict[str, Any]:
        named = {f"{k.replace('_', '-')}.value": v for k, v in values.items()}
        response = wr.call(self.client, self.dep, {f"{button}.n_clicks": 1, "users-pending.data": self.pending,
                                                   **named}, trigger=f"{button}.n_clicks")
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        out: dict[str, Any] = response.get_json()["response"]
        if "users-pending" in out:
            self.pending = out["users-pending"]["data"]
        return out


def _message(out: dict[str, Any]) -> str:
    alert = out["users-result"]["children"]
    return str(alert["props"]["children"])


def _open_dialogs(out: dict[str, Any]) -> dict[str, str]:
    """{dialog: its body} for each dialog the response opens."""
    return {d: out[f"users-{d}-dialog-body"]["children"] for d in ("role", "disable", "enable", "passwd")
            if out.get(f"users-{d}-dialog-modal", {}).get("is_open")}


def _user(app, name: str) -> users.UserInfo:  # type: ignore[no-untyped-def]
    return next(u for u in users.list_users(_store(app)) if u.name == name)


def _audit(app) -> list[tuple[str, str, str, str]]:  # type: ignore[no-untyped-def]
    with _store(app).read() as s:
        return [(e.action, e.actor, e.target, e.outcome) for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action.startswith("users."), AuditEvent.actor != "cli:test")
            .order_by(AuditEvent.id))]


def _add(app, name: str, role: str, disabled: bool = False) -> None:  # type: ignore[no-untyped-def]
    users.add_user(_store(app), utcnow(), "cli:test", name, role, PASSWORD)
    if disabled:
        users.set_disabled(_store(app), utcnow(), "cli:test", name)


def test_a_role_change_asks_first_and_cancel_changes_nothing(app) -> None:  # type: ignore[no-untyped-def]
    _add(app, "alice", "trader")
    page = Page(app)
    epoch = _user(app, "alice").session_epoch
    asked = page.press("users-apply", users_pick="alice", users_change="role:viewer")
    assert _open_dialogs(asked) == {"role": "Change alice's role from trader to viewer? Their open sessions end."}
    assert "users-result" not in asked  # the message is left as it was: nothing has happened yet
    assert _user(app, "alice").role == "trader" and _audit(app) == []
    cancelled = page.press("users-role-dialog-cancel")
    assert _open_dialogs(cancelled) == {} and cancelled["users-role-dialog-modal"]["is_open"] is False
    assert _message(cancelled) == "nothing changed: alice's role is still trader"
    assert page.pending is None
    assert _user(app, "alice").role == "trader" and _user(app, "alice").session_epoch == epoch and _audit(app) == []
    # a Confirm after the Cancel (nothing pending) does nothing
    assert "users-result" not in page.press("users-role-dialog-confirm")
    assert _user(app, "alice").role == "trader"

    page.press("users-apply", users_pick="alice", users_change="role:viewer")
    done = page.press("users-role-dialog-confirm")
    assert _message(done) == "alice is now viewer; their sessions ended"
    assert _user(app, "alice").role == "viewer" and _user(app, "alice").session_epoch == epoch + 1
    assert _audit(app) == [("users.role", "web:admin", "alice", "ok")]  # the admin who confirmed, audited once


def test_disable_and_enable_ask_first_and_say_so_when_already_done(app) -> None:  # type: ignore[no-untyped-def]
    _add(app, "bob", "viewer")
    page = Page(app)
    asked = page.press("users-apply", users_pick="bob", users_change="disable")
    assert _open_dialogs(asked) == {"disable": "Disable bob? They are logged out and cannot log in."}
    assert _message(page.press("users-disable-dialog-cancel")) == "nothing changed: bob is still enabled"
    assert not _user(app, "bob").disabled and _audit(app) == []

    page.press("users-apply", users_pick="bob", users_change="disable")
    assert _message(page.press("users-disable-dialog-confirm")) == "bob disabled; they are logged out"
    assert _user(app, "bob").disabled
    assert users.authenticate(_store(app), utcnow(), "bob", PASSWORD, "127.0.0.1").status == "disabled"

    again = page.press("users-apply", users_pick="bob", users_change="disable")  # already disabled: no dialog
    assert _open_dialogs(again) == {}
    assert _message(again) == "bob is already disabled; nothing changed"
    assert again["users-result"]["children"]["props"]["color"] == "secondary"
    assert _audit(app) == [("users.disable", "web:admin", "bob", "ok")]  # no second "disable" row

    asked = page.press("users-apply", users_pick="bob", users_change="enable")
    assert _open_dialogs(asked) == {"enable": "Enable bob? They can log in again."}
    assert _message(page.press("users-enable-dialog-confirm")) == "bob enabled"
    assert users.authenticate(_store(app), utcnow(), "bob", PASSWORD, "127.0.0.1").ok
    again = page.press("users-apply", users_pick="bob", users_change="enable")
    assert _open_dialogs(again) == {} and _message(again) == "bob is already enabled; nothing changed"
    same_role = page.press("users-apply", users_pick="bob", users_change="role:viewer")
    assert _open_dialogs(same_role) == {} and _message(same_role) == "bob is already viewer; nothing changed"
    assert _audit(app) == [("users.disable", "web:admin", "bob", "ok"), ("users.enable", "web:admin", "bob", "ok")]


def test_a_dialog_confirmed_after_someone_else_did_it_says_nothing_changed(app) -> None:  # type: ignore[no-untyped-def]
    """Bob is disabled (by the CLI) while the admin's dialog is open: Confirm reports it, changes nothing, and the
    audit row records outcome "unchanged", not a second disable."""
    _add(app, "bob", "viewer")
    page = Page(app)
    page.press("users-apply", users_pick="bob", users_change="disable")
    users.set_disabled(_store(app), utcnow(), "cli:other", "bob")
    epoch = _user(app, "bob").session_epoch
    late = page.press("users-disable-dialog-confirm")
    assert _message(late) == "bob is already disabled; nothing changed"
    assert _user(app, "bob").disabled and _user(app, "bob").session_epoch == epoch
    assert _audit(app) == [("users.disable", "cli:other", "bob", "ok"), ("users.disable", "web:admin", "bob", "unchanged")]


def test_a_role_that_changed_since_the_dialog_opened_is_not_changed(app) -> None:  # type: ignore[no-untyped-def]
    _add(app, "dan", "trader")
    page = Page(app)
    page.press("users-apply", users_pick="dan", users_change="role:viewer")
    users.set_role(_store(app), utcnow(), "cli:other", "dan", "admin")
    stale = page.press("users-role-dialog-confirm")
    assert _message(stale) == ("not changed: dan's role changed since the dialog opened (it is now admin); "
                               "press Apply again")
    assert _user(app, "dan").role == "admin"
    assert [a for a in _audit(app) if a[1] == "web:admin"] == []


def test_a_new_password_asks_first_and_is_never_kept_in_the_page(app) -> None:  # type: ignore[no-untyped-def]
    _add(app, "carol", "viewer")
    page = Page(app)
    new = "carols-new-passphrase-7"
    boxes = {"users_new_password": new, "users_new_password_again": new}
    asked = page.press("users-passwd", users_pick="carol", **boxes)
    assert _open_dialogs(asked) == {"passwd": "Set a new password for carol? Their open sessions end."}
    assert new not in str(asked) and page.pending == {"action": "passwd", "name": "carol"}
    assert "users-new-password" not in asked  # the boxes stay filled while the dialog is open
    cancelled = page.press("users-passwd-dialog-cancel", **boxes)
    assert _message(cancelled) == "nothing changed: carol's password is kept"
    assert cancelled["users-new-password"]["value"] == "" and cancelled["users-new-password-again"]["value"] == ""
    assert users.authenticate(_store(app), utcnow(), "carol", PASSWORD, "127.0.0.1").ok and _audit(app) == []

    page.press("users-passwd", users_pick="carol", **boxes)
    done = page.press("users-passwd-dialog-confirm", **boxes)
    assert _message(done) == "password of carol changed; their sessions ended" and new not in str(done)
    assert done["users-new-password"]["value"] == ""
    assert users.authenticate(_store(app), utcnow(), "carol", new, "127.0.0.1").ok
    assert _audit(app) == [("users.passwd", "web:admin", "carol", "ok")]


def test_refusals_come_before_any_dialog(app) -> None:  # type: ignore[no-untyped-def]
    _add(app, "erin", "viewer")
    page = Page(app)
    cases = [
        (("users-apply", {"users_pick": "nobody", "users_change": "disable"}), "refused: no user named 'nobody'"),
        (("users-apply", {"users_pick": "ERIN", "users_change": "role:trader"}),
         "refused: no user named 'ERIN' (did you mean 'erin'?)"),
        (("users-apply", {"users_pick": "erin", "users_change": "role:root"}),
         "refused: unknown role 'root'; use one of: viewer, trader, admin"),
        (("users-passwd", {"users_pick": "erin", "users_new_password": "short", "users_new_password_again": "short"}),
         "refused: the password must have at least 12 characters"),
        (("users-passwd", {"users_pick": "erin", "users_new_password": "one-long-pass-1",
                           "users_new_password_again": "one-long-pass-2"}),
         "refused: the two passwords differ; nothing changed"),
    ]
    for (button, values), expected in cases:
        out = page.press(button, **values)
        assert _open_dialogs(out) == {} and _message(out) == expected, (button, values)
    assert _user(app, "erin").role == "viewer" and not _user(app, "erin").disabled and _audit(app) == []


def test_the_last_admin_is_refused_before_the_dialog(app) -> None:  # type: ignore[no-untyped-def]
    page = Page(app)  # "admin" is the only admin
    refusal = "refused: admin is the last active admin; make another admin first"
    for change in ("disable", "role:trader", "role:viewer"):
        out = page.press("users-apply", users_pick="admin", users_change=change)
        assert _open_dialogs(out) == {} and _message(out) == refusal, change
    assert _user(app, "admin").role == "admin" and not _user(app, "admin").disabled and _audit(app) == []


def test_a_second_admin_lets_the_dialog_open_and_confirm_checks_again(app) -> None:  # type: ignore[no-untyped-def]
    _add(app, "ann", "admin")
    _add(app, "old", "admin", disabled=True)  # a disabled admin does not count
    page = Page(app)  # logged in as "admin", who is about to step down
    out = page.press("users-apply", users_pick="admin", users_change="role:trader")
    assert "role" in _open_dialogs(out)
    # while the dialog is open ann is disabled elsewhere: Confirm refuses, checked again in the store's transaction
    users.set_disabled(_store(app), utcnow(), "cli:test", "ann")
    out = page.press("users-role-dialog-confirm")
    assert _message(out) == "refused: admin is the last active admin; make another admin first"
    assert _user(app, "admin").role == "admin"
