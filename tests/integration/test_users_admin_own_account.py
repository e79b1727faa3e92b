"""Audit 41: an admin changing their own account on the Users page (demoting themselves, disabling themselves,
setting their own password). Every such change ends the user's sessions, this admin's own included, but the
dialog said "Change ada's role ... Their open sessions end." and the page then stopped answering (401) and went
to the login page without a word. The dialog now says it is them and what happens; the message after says their
session ended. Real callbacks over HTTP as logged-in admins, on SQLite and PostgreSQL."""
from __future__ import annotations

from typing import Any

import pytest

from engine.auth import users
from tests import web_requests as wr
from tests.integration.test_users_confirm_dialogs import Page as ConfirmDialogsPage


@pytest.fixture
def app(test_settings: Any, any_db_url: str) -> Any:
    from app import create_app

    return create_app(test_settings(database_url=any_db_url, warmup_polls=10), start_engine=False)


def _store(app: Any) -> Any:
    from webapp.context import EXTENSION_KEY

    return app.server.extensions[EXTENSION_KEY].store


class Page(ConfirmDialogsPage):
    """The Users page's change callback as the browser drives it, for the admin `name` (password of the role)."""

    def __init__(self, app: Any, name: str) -> None:
        super().__init__(app, name)

    def still_logged_in(self) -> bool:
        table = wr.find(self.deps, "users-table.children")
        status = wr.call(self.client, table, {"users-interval.n_intervals": 3}).status_code
        assert status in (200, 401), status
        return status == 200


def _dialog(out: dict[str, Any], which: str) -> str:
    assert out[f"users-{which}-dialog-modal"]["is_open"] is True, out
    return str(out[f"users-{which}-dialog-body"]["children"])


def _message(out: dict[str, Any]) -> str:
    return str(out["users-result"]["children"]["props"]["children"])


def _user(app: Any, name: str) -> users.UserInfo:
    return next(u for u in users.list_users(_store(app)) if u.name == name)


def test_demoting_yourself_says_it_is_you_and_that_your_session_ends(app: Any) -> None:
    Page(app, "bea")  # a second admin: ada is not the last one
    Page(app, "cy")
    ada = Page(app, "ada")
    asked = ada.press("users-apply", users_pick="cy", users_change="role:viewer")  # someone else: "them", as before
    assert _dialog(asked, "role") == "Change cy's role from admin to viewer? Their open sessions end."
    assert _message(ada.press("users-role-dialog-confirm")) == "cy is now viewer; their sessions ended"
    assert ada.still_logged_in()
    asked = ada.press("users-apply", users_pick="ada", users_change="role:trader")
    assert _dialog(asked, "role") == ("Change your own role from admin to trader? This is you: your session ends "
                                      "at once and you log in again as a trader.")
    done = ada.press("users-role-dialog-confirm")
    assert _message(done) == "you are now trader; your session ended; log in again"
    assert _user(app, "ada").role == "trader"
    assert not ada.still_logged_in()


def test_disabling_yourself_says_it_is_you(app: Any) -> None:
    Page(app, "bea")
    ada = Page(app, "ada")
    asked = ada.press("users-apply", users_pick="ada", users_change="disable")
    assert _dialog(asked, "disable") == ("Disable your own account? This is you: your session ends at once and you "
                                         "cannot log in until another admin enables you.")
    done = ada.press("users-disable-dialog-confirm")
    assert _message(done) == "your account is disabled; your session ended; another admin can enable you"
    assert _user(app, "ada").disabled
    assert not ada.still_logged_in()


def test_your_own_new_password_says_you_log_in_again(app: Any) -> None:
    ada = Page(app, "ada")
    new = "violet-anchor-drifts-88"
    asked = ada.press("users-passwd", users_pick="ada", users_new_password=new, users_new_password_again=new)
    assert _dialog(asked, "passwd") == ("Set a new password for yourself? This is you: your session ends at once "
                                        "and you log in again with the new password.")
    done = ada.press("users-passwd-dialog-confirm", users_new_password=new, users_new_password_again=new)
    assert _message(done) == "your password changed; your session ended; log in again"
    assert new not in str(done)
    assert not ada.still_logged_in()
