"""The Trading page's positions card, refreshed so that a click on a Close button is never lost.

The table (rows, links and Close buttons) is drawn again only when its rows change: another symbol, or the Close
column appearing. Marks, P&L, quantity and entry price move on every engine tick; they are written into the cells
in place (pattern-matching ids, components/trading_tables.position_cell_id), one value callback per tick.

Why: redrawing the table under the pointer replaces the button a trader is pressing (the press lands on a removed
node), and re-creates the Close buttons, which makes Dash run the Close callback again with no click; a Close
request still in flight is then superseded by that run and its dialog never opens.

pages/trading.py places shape_store() beside the card and calls callbacks.register() for each new app.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import ALL, Input, Output, State, dcc, no_update
from dash import ctx as dash_ctx
from dash.exceptions import PreventUpdate

from components.ids import trading as ids
from components.trading_tables import POSITION_CELL, position_cells, positions_shape, positions_table
from engine.auth import principal
from engine.auth.roles import Role, at_least
from webapp import trading_queries
from webapp.auth.access import requires
from webapp.wiring import Callbacks

CELLS = {"type": POSITION_CELL, "symbol": ALL, "field": ALL}

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
    shape = positions_shape(positions, closable)
    if shape == shown:
        return no_update, no_update
    return positions_table(positions, can_close=closable), shape


def cell_updates(positions: Sequence[dict[str, Any]], cell_ids: Sequence[dict[str, Any]],
                 texts: Sequence[Any], classes: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """New text and className for each cell on the page (in Dash's order of cell_ids), no_update where the cell
    already shows the value, or where its row has gone (the table redraw removes it)."""
    values = {p["symbol"]: position_cells(p) for p in positions}
    new_texts: list[Any] = []
    new_classes: list[Any] = []
    for cell, text, cls in zip(cell_ids, texts, classes, strict=True):
        value = values.get(str(cell.get("symbol")), {}).get(str(cell.get("field")))
        if value is None:
            new_texts.append(no_update)
            new_classes.append(no_update)
            continue
        new_texts.append(value[0] if value[0] != text else no_update)
        new_classes.append(value[1] if value[1] != (cls or "") else no_update)
    return new_texts, new_classes


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
    cell_ids = [o["id"] for o in dash_ctx.outputs_list[0]]
    if not (isinstance(texts, list) and isinstance(classes, list) and len(texts) == len(classes) == len(cell_ids)):
        raise PreventUpdate  # a malformed (forged) request: nothing to compare with
    new_texts, new_classes = cell_updates(current_positions(), cell_ids, texts, classes)
    if all(t is no_update for t in new_texts) and all(c is no_update for c in new_classes):
        raise PreventUpdate  # nothing moved (a wildcard output takes a list, never a bare no_update)
    return new_texts, new_classes
