"""The Trading page's open-orders card, refreshed so that a click on a Cancel button is never lost.

The table (rows and Cancel buttons) is drawn again only when the set of orders shown changes (an order opens or
leaves the open set) or the Cancel column appears; an order's status, filled quantity, average fill price, quantity
and limit are written into its cells in place (pattern-matching ids, components/trading_tables.order_cell_id), one
value callback per tick. The logic is webapp/trading_cells.py's, shared with the positions card.

The Cancel click itself is pages/trading.py's run_action (the audited cancel_order control action); this module
only keeps its buttons in place.

pages/trading.py places shape_store() beside the card and calls callbacks.register() for each new app.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import Input, Output, State, dcc

from components.ids import trading as ids
from components.trading_tables import ORDER_CELL, open_orders_table, order_cells, orders_shape
from engine.auth.roles import Role
from webapp import trading_cells as cells
from webapp import trading_queries
from webapp.auth.access import requires
from webapp.trading_positions import can_close as can_cancel  # a trader's controls go together
from webapp.wiring import Callbacks

KEY = "order"  # a cell id names its order (orders.id) under this key
CELLS = cells.cells_pattern(ORDER_CELL, KEY)

callbacks = Callbacks()


def shape_store() -> dcc.Store:
    return dcc.Store(id=ids.ORDERS_SHAPE, data=None)


def current_orders() -> list[dict[str, Any]]:
    """The open orders from the Trading page's shared section read (one store read per cache period)."""
    data, _prints = trading_queries.sections()
    return list(data["orders"])


def table_update(orders: Sequence[dict[str, Any]], cancellable: bool, shown: Any) -> tuple[Any, Any]:
    """(table, shape): a new table only when the orders shown or the Cancel column differ from the page's."""
    return cells.table_update(orders_shape(orders, cancellable), shown,
                              lambda: open_orders_table(orders, can_cancel=cancellable))


def cell_values(orders: Sequence[dict[str, Any]]) -> dict[str, cells.Cells]:
    return {str(o["id"]): order_cells(o) for o in orders}


def cell_updates(orders: Sequence[dict[str, Any]], cell_ids: Sequence[dict[str, Any]],
                 texts: Sequence[Any], classes: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """New text and className for each cell on the page (in Dash's order of cell_ids), no_update where the cell
    already shows the value, or where its order has left the open set (the table redraw removes it)."""
    return cells.cell_updates(cell_values(orders), KEY, cell_ids, texts, classes)


@callbacks(Output(ids.section("orders"), "children"), Output(ids.ORDERS_SHAPE, "data"),
           Input(ids.INTERVAL, "n_intervals"), State(ids.ORDERS_SHAPE, "data"))
@requires(Role.VIEWER)
def refresh_orders_table(_n: int | None, shown: Any):
    return table_update(current_orders(), can_cancel(), shown)


@callbacks(Output(CELLS, "children"), Output(CELLS, "className"),
           Input(ids.INTERVAL, "n_intervals"), State(CELLS, "children"), State(CELLS, "className"),
           prevent_initial_call=True)
@requires(Role.VIEWER)
def refresh_order_values(_n: int | None, texts: list[Any], classes: list[Any]):
    return cells.refresh_cells(cell_values(current_orders()), KEY, texts, classes)
