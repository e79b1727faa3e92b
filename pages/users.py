"""Users (admins only): add a user, change a role, disable or enable, set a new password.

A role change, disable, enable and a new password are each confirmed in a dialog that says what will happen
(webapp/users_dialogs.py); Cancel changes nothing. A user already in the asked state: "nothing changed".

The same engine.auth.users functions as `python -m engine users`, audited as the admin doing it.
Passwords travel only in the POST of the action (CSRF-checked) and are never sent back to the page.
"""
from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html, no_update

from components import formatting as fmt
from components.confirm_modal import confirm_modal
from components.ids import users as ids
from components.shell import page_header, read_only_note
from components.tables import small_table
from engine.auth import principal, users
from engine.auth.roles import ROLE_NAMES, Role, at_least
from webapp import users_dialogs as dlg
from webapp.auth.access import requires
from webapp.context import get_context
from webapp.control_actions import web_actor
from webapp.inputs import triggered_by_click

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
        confirm_modal(ids.ROLE_DIALOG, "Change role?", html.Div(id=ids.ROLE_DIALOG_BODY), "Change role", confirm_color="warning"),
        confirm_modal(ids.DISABLE_DIALOG, "Disable user?", html.Div(id=ids.DISABLE_DIALOG_BODY), "Disable"),
        confirm_modal(ids.ENABLE_DIALOG, "Enable user?", html.Div(id=ids.ENABLE_DIALOG_BODY), "Enable", confirm_color="warning"),
        confirm_modal(ids.PASSWD_DIALOG, "Set a new password?", html.Div(id=ids.PASSWD_DIALOG_BODY), "Set password",
                      confirm_color="warning"),
        dcc.Store(id=ids.PENDING_CHANGE, data=None),
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
    ctx = get_context()
    locked = users.locked_addresses(ctx.store, ctx.clock.now())  # per (name, address): see engine.auth.users
    rows = [[u.name, u.role, "disabled" if u.disabled else "active", fmt.timestamp(u.created_at),
             ", ".join(locked.get(u.name, []))] for u in users.list_users(ctx.store)]
    return small_table(["Name", "Role", "Status", "Created", "Locked out from (15 min after 5 failures)"], rows,
                       "No users.")


@dash.callback(Output(ids.TABLE, "children"), Input(ids.INTERVAL, "n_intervals"),
               Input(ids.RESULT, "children"))
@requires(Role.ADMIN)
def refresh_users(_n: object, _result: object):
    return users_table()


OUTPUTS = 14  # change_users: the message, four password boxes, four dialogs (is_open, body), the pending change


@dash.callback(Output(ids.RESULT, "children"), Output(ids.ADD_PASSWORD, "value"),
               Output(ids.NEW_PASSWORD, "value"), Output(ids.ADD_PASSWORD_AGAIN, "value"),
               Output(ids.NEW_PASSWORD_AGAIN, "value"),
               Output(ids.ROLE_DIALOG_MODAL, "is_open"), Output(ids.ROLE_DIALOG_BODY, "children"),
               Output(ids.DISABLE_DIALOG_MODAL, "is_open"), Output(ids.DISABLE_DIALOG_BODY, "children"),
               Output(ids.ENABLE_DIALOG_MODAL, "is_open"), Output(ids.ENABLE_DIALOG_BODY, "children"),
               Output(ids.PASSWD_DIALOG_MODAL, "is_open"), Output(ids.PASSWD_DIALOG_BODY, "children"),
               Output(ids.PENDING_CHANGE, "data"),
               Input(ids.ADD, "n_clicks"), Input(ids.APPLY, "n_clicks"), Input(ids.PASSWD, "n_clicks"),
               Input(ids.ROLE_DIALOG_CONFIRM, "n_clicks"), Input(ids.ROLE_DIALOG_CANCEL, "n_clicks"),
               Input(ids.DISABLE_DIALOG_CONFIRM, "n_clicks"), Input(ids.DISABLE_DIALOG_CANCEL, "n_clicks"),
               Input(ids.ENABLE_DIALOG_CONFIRM, "n_clicks"), Input(ids.ENABLE_DIALOG_CANCEL, "n_clicks"),
               Input(ids.PASSWD_DIALOG_CONFIRM, "n_clicks"), Input(ids.PASSWD_DIALOG_CANCEL, "n_clicks"),
               State(ids.ADD_NAME, "value"), State(ids.ADD_ROLE, "value"), State(ids.ADD_PASSWORD, "value"),
               State(ids.ADD_PASSWORD_AGAIN, "value"),
               State(ids.PICK, "value"), State(ids.CHANGE, "value"), State(ids.NEW_PASSWORD, "value"),
               State(ids.NEW_PASSWORD_AGAIN, "value"), State(ids.PENDING_CHANGE, "data"),
               prevent_initial_call=True)
@requires(Role.ADMIN)
def change_users(*args: Any) -> tuple[Any, ...]:
    """Add acts at once; Apply (role, disable, enable) and Set password open a dialog saying what will happen
    (webapp.users_dialogs.ask_*), whose Confirm makes the change through engine.auth.users as the logged-in admin
    (confirm) and whose Cancel changes nothing (cancel)."""
    name, role, password, password_again, pick, change, new_password, new_password_again, pending = args[-9:]
    if not triggered_by_click(ctx.triggered):
        return (no_update,) * OUTPUTS
    trigger = ctx.triggered_id
    store = get_context().store
    me = principal.current().name  # the logged-in admin: a change of their own account says so (users_dialogs)
    if trigger == ids.ADD:
        step = _add(store, name, role, password, password_again)
    elif trigger == ids.APPLY:
        step = dlg.ask_change(store, pick, change, me)
    elif trigger == ids.PASSWD:
        step = dlg.ask_password(store, pick, new_password, new_password_again, me)
    elif isinstance(trigger, str) and trigger in dlg.CONFIRMS:
        step = dlg.confirm(store, get_context().clock.now(), web_actor(), dlg.CONFIRMS[trigger], pending,
                           new_password, new_password_again, me)
    elif isinstance(trigger, str) and trigger in dlg.CANCELS:
        step = dlg.cancel(dlg.CANCELS[trigger], pending)
    else:
        return (no_update,) * OUTPUTS
    return step_outputs(step)


def _add(store: Any, name: object, role: object, password: object, again: object) -> dlg.UsersStep:
    try:
        info = users.add_user(store, get_context().clock.now(), web_actor(), dlg.field(name), dlg.field(role),
                              dlg.typed_twice(password, again))
    except dlg.REFUSALS as exc:
        return dlg.UsersStep(f"refused: {exc}", color="danger")
    return dlg.UsersStep(f"added {info.name} ({info.role})")


def step_outputs(step: dlg.UsersStep) -> tuple[Any, ...]:
    """The callback's outputs for a step: message, the four password boxes (cleared unless the password dialog
    opens), each dialog's is_open and body, and the pending change."""
    message = no_update if step.message is None else dbc.Alert(step.message, color=step.color,
                                                               className="py-1 mb-0", id=ids.MESSAGE)
    boxes = (no_update,) * 4 if step.keep_passwords else ("",) * 4
    dialogs: list[Any] = []
    for which in dlg.DIALOGS:
        opened = step.dialog == which
        dialogs += [opened, step.body if opened else no_update]
    return (message, *boxes, *dialogs, step.pending)
