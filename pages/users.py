"""Users (admins only): add a user, change a role, disable or enable, set a new password.

The same engine.auth.users functions as `python -m engine users`, audited as the admin doing it.
Passwords travel only in the POST of the action (CSRF-checked) and are never sent back to the page.
"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html, no_update

from components import formatting as fmt
from components.ids import users as ids
from components.shell import page_header, read_only_note
from components.tables import small_table
from engine.auth import principal, users
from engine.auth.passwords import WeakPassword
from engine.auth.roles import ROLE_NAMES, Role, UnknownRole, at_least
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.control_actions import web_actor
from webapp.inputs import text_or_default, triggered_by_click

dash.register_page(__name__, path="/users", name="Users", order=8)

CHANGES = [{"label": f"role: {r}", "value": f"role:{r}"} for r in ROLE_NAMES] + [
    {"label": "disable (ends their sessions)", "value": "disable"}, {"label": "enable", "value": "enable"}]


def _form() -> dbc.Card:
    return dbc.Card(dbc.CardBody([
        html.H6("Add a user"),
        dbc.Row([
            dbc.Col(dbc.Input(id=ids.ADD_NAME, placeholder="name", size="sm", maxLength=256), md=3),  # over 64: refused with why, not cut
            dbc.Col(dbc.Select(id=ids.ADD_ROLE, options=[{"label": r, "value": r} for r in ROLE_NAMES],
                               value="viewer", size="sm"), md=2),
            dbc.Col(dbc.Input(id=ids.ADD_PASSWORD, type="password", placeholder="password (12+ characters)",
                              size="sm", maxLength=256, autocomplete="new-password"), md=3),
            dbc.Col(dbc.Input(id=ids.ADD_PASSWORD_AGAIN, type="password", placeholder="password again", size="sm",
                              maxLength=256, autocomplete="new-password"), md=3),
            dbc.Col(dbc.Button("Add", id=ids.ADD, size="sm", color="primary", n_clicks=0), md=1),
        ], className="g-2 mb-3"),
        html.H6("Change a user"),
        dbc.Row([
            dbc.Col(dbc.Input(id=ids.PICK, placeholder="name", size="sm", maxLength=256), md=3),
            dbc.Col(dbc.Select(id=ids.CHANGE, options=CHANGES, value="role:viewer", size="sm"), md=3),
            dbc.Col(dbc.Button("Apply", id=ids.APPLY, size="sm", color="secondary", n_clicks=0), md=1),
        ], className="g-2 mb-2"),
        dbc.Row([
            dbc.Col(dbc.Input(id=ids.NEW_PASSWORD, type="password", placeholder="new password", size="sm",
                              maxLength=256, autocomplete="new-password"), md=3),
            dbc.Col(dbc.Input(id=ids.NEW_PASSWORD_AGAIN, type="password", placeholder="new password again", size="sm",
                              maxLength=256, autocomplete="new-password"), md=3),
            dbc.Col(dbc.Button("Set password", id=ids.PASSWD, size="sm", color="secondary", n_clicks=0), md=2),
        ], className="g-2"),
        html.Div(id=ids.RESULT, className="mt-2"),
    ]), className="mb-3")


def layout(**_kwargs: object) -> html.Div:
    if not at_least(principal.current().role, Role.ADMIN):
        return html.Div([page_header("Users"), read_only_note("users-admin-only", "Users are managed by an admin.")])
    return html.Div([
        page_header("Users", "Who may log in, and with which role (also: python -m engine users)"),
        dcc.Interval(id=ids.INTERVAL, interval=10_000),
        _form(),
        html.Div(id=ids.TABLE),
    ])


def users_table() -> html.Div:
    rows = [[u.name, u.role, "disabled" if u.disabled else "active", fmt.timestamp(u.created_at),
             fmt.timestamp(u.locked_until) if u.locked_until else ""] for u in users.list_users(get_context().store)]
    return small_table(["Name", "Role", "Status", "Created", "Locked until"], rows, "No users.")


@dash.callback(Output(ids.TABLE, "children"), Input(ids.INTERVAL, "n_intervals"),
               Input(ids.RESULT, "children"))
@requires(Role.ADMIN)
def refresh_users(_n: object, _result: object):
    return users_table()


def _text(value: object) -> str:
    """A form field as text, bounded (256, the fields' own limit) but not cut to a name's 64 characters: a longer
    name reaches users.check_name and is refused with the rule, instead of being created shortened."""
    return text_or_default(value, "", limit=256)


def typed_twice(first: object, again: object) -> str:
    """The password typed in both boxes; UserError when they differ (a typo would lock the user out)."""
    one, two = (v if isinstance(v, str) else "" for v in (first, again))
    if one != two:
        raise users.UserError("the two passwords differ; nothing changed")
    return one


@dash.callback(Output(ids.RESULT, "children"), Output(ids.ADD_PASSWORD, "value"),
               Output(ids.NEW_PASSWORD, "value"), Output(ids.ADD_PASSWORD_AGAIN, "value"),
               Output(ids.NEW_PASSWORD_AGAIN, "value"),
               Input(ids.ADD, "n_clicks"), Input(ids.APPLY, "n_clicks"), Input(ids.PASSWD, "n_clicks"),
               State(ids.ADD_NAME, "value"), State(ids.ADD_ROLE, "value"), State(ids.ADD_PASSWORD, "value"),
               State(ids.ADD_PASSWORD_AGAIN, "value"),
               State(ids.PICK, "value"), State(ids.CHANGE, "value"), State(ids.NEW_PASSWORD, "value"),
               State(ids.NEW_PASSWORD_AGAIN, "value"),
               prevent_initial_call=True)
@requires(Role.ADMIN)
def change_users(_add: object, _apply: object, _passwd: object, name: object, role: object, password: object,
                 password_again: object, pick: object, change: object, new_password: object,
                 new_password_again: object):
    if not triggered_by_click(ctx.triggered):
        return (no_update,) * 5
    store, now, actor = get_context().store, get_context().clock.now(), web_actor()
    try:
        if ctx.triggered_id == ids.ADD:
            password = typed_twice(password, password_again)
            info = users.add_user(store, now, actor, _text(name), _text(role),
                                  password if isinstance(password, str) else "")
            message = f"added {info.name} ({info.role})"
        elif ctx.triggered_id == ids.APPLY:
            what = _text(change)
            if what.startswith("role:"):
                info = users.set_role(store, now, actor, _text(pick), what.removeprefix("role:"))
                message = f"{info.name} is now {info.role}; their sessions ended"
            elif what in ("disable", "enable"):
                users.set_disabled(store, now, actor, _text(pick), what == "disable")
                message = f"{_text(pick)} {what}d"
            else:
                raise users.UserError("choose a change")
        else:
            users.set_password(store, now, actor, _text(pick), typed_twice(new_password, new_password_again))
            message = f"password of {_text(pick)} changed; their sessions ended"
    except (users.UserError, WeakPassword, UnknownRole) as exc:
        return dbc.Alert(f"refused: {exc}", color="danger", className="py-1 mb-0", id=ids.MESSAGE), "", "", "", ""
    return dbc.Alert(message, color="success", className="py-1 mb-0", id=ids.MESSAGE), "", "", "", ""
