"""The Users page's confirm dialogs: a role change, disable, enable and a new password are each asked first.

Plain functions (the page's callback only maps them to outputs): `ask_change` / `ask_password` check what they
can and open the dialog that says exactly what will happen; `confirm` makes the pending change through
engine.auth.users (the one audited function, as the logged-in admin); `cancel` forgets it and changes nothing.
A user already in the asked state gets no dialog: the message says nothing changed, and nothing is audited.

The pending change kept in the page names the user and the change, never a password: Confirm of a new password
reads the two password boxes again (they stay filled while the dialog is open) and they are cleared after.

Ids: components/ids/users.py (the confirm dialogs' section).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from components.ids import users as ids
from engine.auth import users
from engine.auth.passwords import WeakPassword, check_strength
from engine.auth.roles import UnknownRole, parse_role
from engine.store.db import Store
from webapp.inputs import text_or_default

Dialog = Literal["role", "disable", "enable", "passwd"]
DIALOGS: tuple[Dialog, ...] = ("role", "disable", "enable", "passwd")
CONFIRMS: dict[str, Dialog] = {ids.ROLE_DIALOG_CONFIRM: "role", ids.DISABLE_DIALOG_CONFIRM: "disable",
                               ids.ENABLE_DIALOG_CONFIRM: "enable", ids.PASSWD_DIALOG_CONFIRM: "passwd"}
CANCELS: dict[str, Dialog] = {ids.ROLE_DIALOG_CANCEL: "role", ids.DISABLE_DIALOG_CANCEL: "disable",
                              ids.ENABLE_DIALOG_CANCEL: "enable", ids.PASSWD_DIALOG_CANCEL: "passwd"}
REFUSALS = (users.UserError, WeakPassword, UnknownRole)


@dataclass(frozen=True)
class UsersStep:
    """What the page shows after a click. `message` None leaves the message as it is; `color` its Bootstrap colour;
    `dialog` the confirm dialog to open (None: all closed), `body` what it says, `pending` the change its Confirm
    makes; `keep_passwords`: leave the password boxes filled (the password dialog is open), else clear them."""

    message: str | None = None
    color: str = "success"
    dialog: Dialog | None = None
    body: str = ""
    pending: dict[str, Any] | None = None
    keep_passwords: bool = False


def field(value: object) -> str:
    """A form field as text, bounded (256, the fields' own limit) but not cut to a name's 64 characters: a longer
    name reaches users.check_name and is refused with the rule, instead of being created shortened."""
    return text_or_default(value, "", limit=256)


def typed_twice(first: object, again: object) -> str:
    """The password typed in both boxes; UserError when they differ (a typo would lock the user out)."""
    one, two = (v if isinstance(v, str) else "" for v in (first, again))
    if one != two:
        raise users.UserError("the two passwords differ; nothing changed")
    return one


def _refused(exc: Exception) -> UsersStep:
    return UsersStep(f"refused: {exc}", color="danger")


def _unchanged(message: str) -> UsersStep:
    return UsersStep(message, color="secondary")


def _find(store: Store, name: str) -> users.UserInfo:
    """The user named exactly `name`; UserError (with a near name) when there is none, as users._change says it."""
    return _find_in(users.list_users(store), name)


def _find_in(every: list[users.UserInfo], name: str) -> users.UserInfo:
    users.check_name(name)
    for info in every:
        if info.name == name:
            return info
    near = next((u.name for u in every if u.name.lower() == name.lower()), None)
    raise users.UserError(f"no user named {name!r}" + (f" (did you mean {near!r}?)" if near else ""))


def _own(then: str) -> str:
    """The warning of a dialog about the admin's own account: every change of password, role or status ends the
    user's sessions (users._change), this one included. It said "Their open sessions end" and the page then
    stopped answering and went to the login page without a word."""
    return f"This is you: your session ends at once and {then}."


def _status(disabled: bool) -> str:
    return "disabled" if disabled else "enabled"


def ask_change(store: Store, pick: object, change: object, me: str = "") -> UsersStep:
    """Apply: the role, disable or enable dialog for the picked user; nothing is changed yet. A user already so
    (same role, already disabled / enabled): no dialog, "nothing changed". `me`: the logged-in admin, told in
    the dialog when the change is their own (their session ends with it: see _own)."""
    what = field(change)
    try:
        every = users.list_users(store)
        if what.startswith("role:"):
            role = parse_role(what.removeprefix("role:")).value
            user = _find_in(every, field(pick))
            if user.role == role:
                return _unchanged(f"{user.name} is already {role}; nothing changed")
            if users.ends_last_admin(every, user.name, role=role):  # refused before the dialog, not after it
                raise users.UserError(users.last_admin_message(user.name))
            body = (f"Change your own role from {user.role} to {role}? " + _own(f"you log in again as a {role}")
                    if user.name == me else
                    f"Change {user.name}'s role from {user.role} to {role}? Their open sessions end.")
            return UsersStep(None, dialog="role", pending={"action": "role", "name": user.name, "from": user.role,
                                                           "to": role}, body=body)
        if what in ("disable", "enable"):
            user = _find_in(every, field(pick))
            if user.disabled == (what == "disable"):
                return _unchanged(f"{user.name} is already {_status(user.disabled)}; nothing changed")
            if what == "disable" and users.ends_last_admin(every, user.name, disabled=True):
                raise users.UserError(users.last_admin_message(user.name))
            body = (f"Enable {user.name}? They can log in again." if what == "enable" else
                    "Disable your own account? " + _own("you cannot log in until another admin enables you")
                    if user.name == me else f"Disable {user.name}? They are logged out and cannot log in.")
            return UsersStep(None, dialog="disable" if what == "disable" else "enable", body=body, pending={"action": what, "name": user.name})
        raise users.UserError("choose a change")
    except REFUSALS as exc:
        return _refused(exc)


def ask_password(store: Store, pick: object, password: object, again: object, me: str = "") -> UsersStep:
    """Set password: the two boxes must agree and the password be strong enough, then the dialog asks; the boxes
    stay filled (Confirm reads them again) and the password is not put in the pending change."""
    try:
        user = _find(store, field(pick))
        check_strength(typed_twice(password, again), user.name)
    except REFUSALS as exc:
        return _refused(exc)
    body = ("Set a new password for yourself? " + _own("you log in again with the new password") if user.name == me
            else f"Set a new password for {user.name}? Their open sessions end.")
    return UsersStep(None, dialog="passwd", body=body, pending={"action": "passwd", "name": user.name},
                     keep_passwords=True)


def _pending_name(dialog: Dialog, pending: object) -> str | None:
    if not isinstance(pending, dict) or pending.get("action") != dialog:
        return None
    name = pending.get("name")
    return name if isinstance(name, str) and name else None


def confirm(store: Store, now: datetime, actor: str, dialog: Dialog, pending: object, password: object = None,
            again: object = None, me: str = "") -> UsersStep:
    """Confirm in `dialog`: make the pending change through engine.auth.users as `actor` (audited there). A role
    that changed since the dialog opened changes nothing; a user found already so says so (audited "unchanged").
    A change of `me` (the logged-in admin) says that their session ended and how to go on."""
    name = _pending_name(dialog, pending)
    if name is None or not isinstance(pending, dict):
        return UsersStep(None)  # nothing pending for this dialog (a second click, a stale page): close it
    try:
        if dialog == "role":
            before, role = pending.get("from"), parse_role(pending.get("to")).value
            now_role = _find(store, name).role
            if now_role != before:
                return UsersStep(f"not changed: {name}'s role changed since the dialog opened (it is now "
                                 f"{now_role}); press Apply again", color="warning")
            info = users.set_role(store, now, actor, name, role)
            if not info.changed:
                return _unchanged(f"{info.name} is already {info.role}; nothing changed")
            return UsersStep(_yours(f"you are now {info.role}") if name == me else
                             f"{info.name} is now {info.role}; their sessions ended")
        if dialog in ("disable", "enable"):
            info = users.set_disabled(store, now, actor, name, dialog == "disable")
            if not info.changed:
                return _unchanged(f"{info.name} is already {_status(info.disabled)}; nothing changed")
            if dialog == "disable" and name == me:
                return UsersStep(_yours("your account is disabled", again=False))
            return UsersStep(f"{info.name} {dialog}d" + ("; they are logged out" if dialog == "disable" else ""))
        info = users.set_password(store, now, actor, name, typed_twice(password, again))
        return UsersStep(_yours("your password changed") if name == me else
                         f"password of {info.name} changed; their sessions ended")
    except REFUSALS as exc:
        return _refused(exc)


def _yours(done: str, again: bool = True) -> str:
    return f"{done}; your session ended" + ("; log in again" if again else "; another admin can enable you")


def cancel(dialog: Dialog, pending: object) -> UsersStep:
    """Cancel in `dialog`: close it, forget the pending change, say that nothing changed (nothing is audited)."""
    name = _pending_name(dialog, pending)
    if name is None:
        return UsersStep(None)
    before = pending.get("from") if isinstance(pending, dict) else None
    if dialog == "role":
        return _unchanged(f"nothing changed: {name}'s role is still {before}" if isinstance(before, str) else
                          f"nothing changed: {name}'s role is kept")
    if dialog == "passwd":
        return _unchanged(f"nothing changed: {name}'s password is kept")
    return _unchanged(f"nothing changed: {name} is still {'enabled' if dialog == 'disable' else 'disabled'}")
