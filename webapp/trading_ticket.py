"""The Trading page's manual order ticket: its layout and its callbacks (Size fills the quantity from the position
sizing; Submit sends one order through the order gateway and every risk check, webapp/manual_orders.py).

pages/trading.py places ticket_card() and calls callbacks.register() each time Dash executes it for a new app.
"""
from __future__ import annotations

import uuid
from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update
from dash import ctx as dash_ctx

from components.ids import trading as ids
from engine.auth.roles import Role
from webapp import manual_orders
from webapp.auth.access import requires
from webapp.inputs import is_click
from webapp.manual_orders import submit_manual_order
from webapp.wiring import Callbacks

callbacks = Callbacks()


def ticket_card() -> dbc.Card:
    """The ticket: symbol, side, quantity (or Size from the position sizing), type and limit; Submit.
    Qty and Limit are text fields: a number field with min/step sends None for 0, -5 or 1.5, hiding what was
    typed, so the server (manual_orders.parse_ticket) checks them and says what is wrong."""
    return dbc.Card([
        dbc.CardHeader("Manual order (through the order gateway and every risk check)"),
        dbc.CardBody([
            dbc.Row([
                dbc.Col(dbc.Input(id=ids.TICKET_SYMBOL, placeholder="Symbol", size="sm"), md=2),
                dbc.Col(dbc.Select(id=ids.TICKET_SIDE, options=[{"label": "Buy", "value": "buy"},
                                                                      {"label": "Sell", "value": "sell"}],
                                   value="buy", size="sm"), md=2),
                dbc.Col(dbc.Input(id=ids.TICKET_QTY, type="text", inputMode="numeric", placeholder="Qty", size="sm"),
                        md=2),
                dbc.Col(dbc.Select(id=ids.TICKET_TYPE, options=[{"label": "Market", "value": "market"},
                                                                      {"label": "Limit", "value": "limit"}],
                                   value="market", size="sm"), md=2),
                dbc.Col(dbc.Input(id=ids.TICKET_LIMIT, type="text", inputMode="decimal", placeholder="Limit",
                                  size="sm"), md=2),
                dbc.Col(dbc.ButtonGroup([
                    dbc.Button("Size", id=ids.TICKET_SIZE, color="secondary", size="sm", n_clicks=0,
                               title="fill Qty from the position sizing (ATR, Kelly cap, regime bias, limits)"),
                    dbc.Button("Submit", id=ids.TICKET_SUBMIT, color="primary", size="sm", n_clicks=0),
                ]), md=2),
            ], className="g-2"),
            html.Div(id=ids.TICKET_SIZE_NOTE, className="small text-muted mt-1"),
            html.Div(id=ids.TICKET_RESULT, className="mt-2"),
            dcc.Store(id=ids.TICKET_NONCE, data=uuid.uuid4().hex),
        ]),
    ], className="mb-3")


@callbacks(Output(ids.TICKET_QTY, "value"), Output(ids.TICKET_SIZE_NOTE, "children"),
           Input(ids.TICKET_SIZE, "n_clicks"),
           Input(ids.TICKET_SYMBOL, "value"), Input(ids.TICKET_SIDE, "value"),
           prevent_initial_call=True)
@requires(Role.VIEWER)
def size_ticket(_n: int, symbol: str | None, side: str | None):
    """Size fills the quantity and says why; a new symbol or side clears that note (it spoke of the old one)."""
    if dash_ctx.triggered_id != ids.TICKET_SIZE:
        return no_update, ""
    qty, note = manual_orders.suggest_ticket_size(symbol, side)
    return (qty if qty is not None else no_update), note


@callbacks(Output(ids.TICKET_RESULT, "children"), Output(ids.TICKET_NONCE, "data"),
           Input(ids.TICKET_SUBMIT, "n_clicks"),
           State(ids.TICKET_SYMBOL, "value"), State(ids.TICKET_SIDE, "value"),
           State(ids.TICKET_QTY, "value"), State(ids.TICKET_TYPE, "value"),
           State(ids.TICKET_LIMIT, "value"), State(ids.TICKET_NONCE, "data"),
           prevent_initial_call=True)
@requires(Role.TRADER)
def submit_ticket(n: int, symbol: str | None, side: str, qty: Any, order_type: str, limit: Any,
                  nonce: str):
    if not is_click(n):
        return no_update, no_update

    accepted, message = submit_manual_order(symbol, side, qty, order_type, limit, nonce)
    alert = dbc.Alert(message, color="success" if accepted else "danger", className="py-1 mb-0",
                      id=ids.TICKET_ALERT)
    sent = not message.startswith("Not sent")  # a form error keeps the nonce; anything the gateway saw renews it
    return alert, (uuid.uuid4().hex if sent else nonce)
