"""The Trading page's positions card, refreshed so that a click on a Close button is never lost.

The table (rows, links and Close buttons) is drawn again only when its rows change: another symbol, or the Close
column appearing. Marks, P&L, quantity and entry price move on every engine tick; they are written into the cells
in place (pattern-matching ids, components/trading_tables.position_cell_id), one value callback per tick
(the shared "shape + cells" logic is webapp/trading_cells.py's; the open orders work the same way).

Why: redrawing the table under the pointer replaces the button a trader is pressing (the press lands on a removed
node), and re-creates the Close buttons, which makes Dash run the Close callback again with no click; a Close
request still in flight is then superseded by that run and its dialog never opens.

pages/trading.py places shape_store() beside the card and calls callbacks.register() for each new app.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import Input, Output, State, dcc

from components.ids import trading as ids
from components.trading_tables import POSITION_CELL, position_cells, positions_shape, positions_table
from engine.auth import principal
from engine.auth.roles import Role, at_least
from webapp import trading_cells as cells
from webapp import trading_queries
from webapp.auth.access import requires
from webapp.wiring import Callbacks

CELLS = cells.cells_pattern(POSITION_CELL, "symbol")

callbacks = Callbacks()


def can_close() -> bool:
    """Whether the logged-in user's role shows the Close buttons (the server checks again on use)."""
    return at_least(principal.current().role, Role.TRADER)


def shape_store() -> dcc.Store:
    return dcc.Store(id=ids.POSITIONS_SHAPE, data=None)


def current_positions() -> list[dict[str, Any]]:
    """The positions from the Trading page's shared section read (one store read per cache period)."""
    data, _prints = trading_queries.sections()
    return list(data["positions"])


def table_update(positions: Sequence[dict[str, Any]], closable: bool, shown: Any) -> tuple[Any, Any]:
    """(table, shape): a new table only when its shape differs from the one shown; else no_update for both."""
    return cells.table_update(positions_shape(positions, closable), shown,
                              lambda: positions_table(positions, can_close=closable))


def cell_values(positions: Sequence[dict[str, Any]]) -> dict[str, cells.Cells]:
    return {p["symbol"]: position_cells(p) for p in positions}


def cell_updates(positions: Sequence[dict[str, Any]], cell_ids: Sequence[dict[str, Any]],
                 texts: Sequence[Any], classes: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """New text and className for each cell on the page (in Dash's order of cell_ids), no_update where the cell
    already shows the value, or where its row has gone (the table redraw removes it)."""
    return cells.cell_updates(cell_values(positions), "symbol", cell_ids, texts, classes)


@callbacks(Output(ids.section("positions"), "children"), Output(ids.POSITIONS_SHAPE, "data"),
           Input(ids.INTERVAL, "n_intervals"), State(ids.POSITIONS_SHAPE, "data"))
@requires(Role.VIEWER)
def refresh_positions_table(_n: int | None, shown: Any):
    return table_update(current_positions(), can_close(), shown)


@callbacks(Output(CELLS, "children"), Output(CELLS, "className"),
           Input(ids.INTERVAL, "n_intervals"), State(CELLS, "children"), State(CELLS, "className"),
           prevent_initial_call=True)
@requires(Role.VIEWER)
def refresh_position_values(_n: int | None, texts: list[Any], classes: list[Any]):
    return cells.refresh_cells(cell_values(current_positions()), "symbol", texts, classes)
