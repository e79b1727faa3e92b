"""The Trading page's open-orders card: a slot table (components/slot_table.py), so a click on a Cancel button is
never lost to a redraw.

The table is drawn once per page (again only when the open orders outnumber its slots, or the Cancel column comes
or goes); each refresh writes the orders into their slots (webapp/slot_rows.py): an order keeps its row while it is
open, one that leaves the open set empties its row, a new one fills a row that was already empty. Status, filled
quantity and average fill price are written into the cells in place. Why slots: webapp/trading_positions.py.

The Cancel click itself is pages/trading.py's run_action (the audited cancel_order control action); it reads which
order a slot showed with `clicked_order`.

pages/trading.py places shape_store() beside the card and calls callbacks.register() for each new app.
"""
from __future__ import annotations

from typing import Any

from dash import Input, Output, State, dcc

from components.ids import trading as ids
from components.slot_table import Cells
from components.trading_tables import ORDERS, order_cells
from engine.auth.roles import Role
from webapp import slot_rows, trading_queries
from webapp.auth.access import requires
from webapp.form_ids import FormIdError, parse_id
from webapp.trading_positions import can_close as can_cancel  # a trader's controls go together
from webapp.trading_positions import quantity
from webapp.wiring import Callbacks

callbacks = Callbacks()


def shape_store() -> dcc.Store:
    return dcc.Store(id=ids.ORDERS_SHAPE, data=None)


def current_rows() -> dict[str, Cells]:
    """The open orders' cells by order id, from the Trading page's shared section read (newest first), with the true
    quantities (a fractional order's 0.4 is not "0")."""
    data, _prints = trading_queries.sections()
    return {str(o["id"]): {**order_cells(o), "qty": (quantity(o["qty"]), ""),
                           "filled_qty": (quantity(o.get("filled_qty")), "")} for o in data["orders"]}


def clicked_order(key_states: Any, trigger: Any) -> int | None:
    """The order id (orders.id) a clicked Cancel button's slot showed (None: an empty slot, or malformed)."""
    slot = trigger.get("slot") if isinstance(trigger, dict) else None
    key = slot_rows.slot_key(key_states, slot)
    if key is None:
        return None
    try:
        return parse_id(key, "the order to cancel", "order")
    except FormIdError:  # a forged key cell ("²", "abc"): no order, the click does nothing
        return None


@callbacks(Output(ids.section("orders"), "children"), Output(ids.ORDERS_SHAPE, "data"),
           Output(ORDERS.cells(), "children"), Output(ORDERS.cells(), "className"),
           Output(ORDERS.rows(), "hidden"), Output(ORDERS.empty_note(), "hidden"),
           Output(ORDERS.empty_note(), "children"),
           Input(ids.INTERVAL, "n_intervals"), State(ids.ORDERS_SHAPE, "data"),
           State(ORDERS.cells(), "children"), State(ORDERS.cells(), "className"),
           State(ORDERS.rows(), "hidden"), State(ORDERS.empty_note(), "hidden"),
           State(ORDERS.empty_note(), "children"))
@requires(Role.VIEWER)
def refresh_orders(_n: int | None, shape: Any, texts: Any, classes: Any, hidden: Any, empty_hidden: Any,
                   empty_texts: Any):
    return slot_rows.respond(ORDERS, current_rows(), can_cancel(), shape, texts, classes, hidden, empty_hidden, empty_texts)
