"""The Users page: admins add users, change roles, disable and set passwords through it; nobody else can."""
from __future__ import annotations

import pytest

from engine.auth import users
from tests import web_requests as wr
from tests.auth_helpers import login_client


@pytest.fixture
def app(test_settings, any_db_url):  # type: ignore[no-untyped-def]
    from app import create_app

    return create_app(test_settings(database_url=any_db_url, warmup_polls=10), start_engine=False)


def _store(app):  # type: ignore[no-untyped-def]
    from webapp.context import EXTENSION_KEY

    return app.server.extensions[EXTENSION_KEY].store


def test_an_admin_manages_users_and_others_cannot(app) -> None:  # type: ignore[no-untyped-def]
    admin = login_client(app, "admin")
    dep = wr.find(wr.dependencies(admin), "users-result.children")

    def act(client, trigger: str, **values: object):  # type: ignore[no-untyped-def]
        named = {f"{k.replace('_', '-')}.value": v for k, v in values.items()}
        return wr.call(client, dep, {f"{trigger}.n_clicks": 1, **named}, trigger=f"{trigger}.n_clicks")

    added = act(admin, "users-add", users_add_name="nina", users_add_role="trader",
                users_add_password="nina-has-a-long-one", users_add_password_again="nina-has-a-long-one")
    assert "added nina (trader)" in added.get_data(as_text=True)
    assert "nina-has-a-long-one" not in added.get_data(as_text=True)  # the password is not sent back
    assert "refused: the password must have at least 12" in act(
        admin, "users-add", users_add_name="olaf", users_add_role="viewer", users_add_password="short", users_add_password_again="short").get_data(as_text=True)

    def confirmed(dialog: str, **values: object) -> str:  # Apply opens the dialog; its Confirm makes the change
        pending = act(admin, "users-apply", **values).get_json()["response"]["users-pending"]["data"]
        return wr.call(admin, dep, {f"users-{dialog}-dialog-confirm.n_clicks": 1, "users-pending.data": pending},
                       trigger=f"users-{dialog}-dialog-confirm.n_clicks").get_data(as_text=True)

    assert "nina is now viewer" in confirmed("role", users_pick="nina", users_change="role:viewer")
    assert "nina disabled" in confirmed("disable", users_pick="nina", users_change="disable")
    last = act(admin, "users-apply", users_pick="admin", users_change="role:viewer").get_data(as_text=True)
    assert "last active admin" in last  # an admin cannot lock the desk out of its own users (said before a dialog)
    info = {u.name: u for u in users.list_users(_store(app))}
    assert info["nina"].role == "viewer" and info["nina"].disabled and "olaf" not in info
    assert info["admin"].role == "admin"
    trader = login_client(app, "trader")
    refused = act(trader, "users-add", users_add_name="eve", users_add_role="admin", users_add_password="eve-wants-in-123", users_add_password_again="eve-wants-in-123")
    assert refused.status_code == 403 and "eve" not in {u.name for u in users.list_users(_store(app))}
    layout = trader.get("/_dash-layout").get_data(as_text=True)
    assert "/users" not in layout.replace("\\u002f", "/")  # not offered in a trader's navigation


def test_names_that_differ_only_in_case_and_too_long_names_are_refused_with_why(app) -> None:  # type: ignore[no-untyped-def]
    """'Trader1' next to 'trader1' would be two accounts no one can tell apart; an 80-character name is refused
    by the server with the rule, not cut to 64 by the field."""
    admin = login_client(app, "admin")
    dep = wr.find(wr.dependencies(admin), "users-result.children")

    def add(name: str) -> str:
        return wr.call(admin, dep, {"users-add.n_clicks": 1, "users-add-name.value": name,
                                    "users-add-role.value": "viewer", "users-add-password.value": "a-long-passphrase-9",
                                    "users-add-password-again.value": "a-long-passphrase-9"},
                       trigger="users-add.n_clicks").get_data(as_text=True)

    assert "added rita (viewer)" in add("rita")
    assert "user 'rita' exists already; names that differ only in case are not allowed" in add("Rita")
    assert "a user name is 1 to 64 letters" in add("x" * 80)
    assert sorted(u.name for u in users.list_users(_store(app)) if u.name.lower() in ("rita", "x" * 80)) == ["rita"]
    moved = wr.call(admin, wr.find(wr.dependencies(admin), "users-result.children"),
                    {"users-apply.n_clicks": 1, "users-pick.value": "RITA", "users-change.value": "disable"},
                    trigger="users-apply.n_clicks").get_data(as_text=True)
    assert "no user named 'RITA' (did you mean 'rita'?)" in moved


def test_a_password_typed_differently_twice_changes_nothing(app) -> None:  # type: ignore[no-untyped-def]
    """Both boxes must agree: a typo in a new password would lock the user out."""
    admin = login_client(app, "admin")
    dep = wr.find(wr.dependencies(admin), "users-result.children")
    added = wr.call(admin, dep, {"users-add.n_clicks": 1, "users-add-name.value": "sam", "users-add-role.value": "viewer",
                                 "users-add-password.value": "sam-has-a-long-one", "users-add-password-again.value":
                                 "sam-has-a-long-on"}, trigger="users-add.n_clicks").get_data(as_text=True)
    assert "refused: the two passwords differ; nothing changed" in added
    assert "sam" not in {u.name for u in users.list_users(_store(app))}
    reset = wr.call(admin, dep, {"users-passwd.n_clicks": 1, "users-pick.value": "admin",
                                 "users-new-password.value": "another-long-one-1",
                                 "users-new-password-again.value": "another-long-one-2"},
                    trigger="users-passwd.n_clicks").get_data(as_text=True)
    assert "refused: the two passwords differ; nothing changed" in reset
