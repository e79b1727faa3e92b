"""Tables on the Trading page that keep their buttons under a trader's pointer: "shape + cells".

A table with a button per row (Close per position, Cancel per open order) is drawn again only when its *shape*
changes (which rows, in which order, and whether the button column shows); the values that move while a row stays
(marks, P&L, an order's status and filled quantity) are written into the row's value cells in place, through
pattern-matching ids {"type": <cell type>, <key>: <row key>, "field": <field>}.

Why: redrawing a table under the pointer replaces the button a trader is pressing (the press lands on a removed
node), and re-creating the buttons makes Dash run their callback again with no click; a request still in flight is
then superseded by that run and its answer (a dialog, a result) never shows.

Used by webapp/trading_positions.py and webapp/trading_orders.py; each declares its own two callbacks (the table,
the cells) with these functions inside.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dash import ALL, no_update
from dash import ctx as dash_ctx
from dash.exceptions import PreventUpdate

# A row's value cells: {field: (text, className)}
Cells = dict[str, tuple[str, str]]


def cells_pattern(cell_type: str, key: str) -> dict[str, Any]:
    """The pattern-matching id of every value cell of one table."""
    return {"type": cell_type, key: ALL, "field": ALL}


def table_update(shape: Any, shown: Any, draw: Callable[[], Any]) -> tuple[Any, Any]:
    """(table, shape): draw() only when `shape` differs from the shape drawn on the page (`shown`, None before the
    first draw); else no_update for both, so the rows and their buttons stay the same DOM nodes."""
    if shape == shown:
        return no_update, no_update
    return draw(), shape


def cell_updates(values: Mapping[str, Cells], key: str, cell_ids: Sequence[dict[str, Any]],
                 texts: Sequence[Any], classes: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """New text and className for each cell on the page (in Dash's order of cell_ids): no_update where the cell
    already shows the value, or where its row is not in `values` (a row that has gone: the table redraw removes it).
    `values` maps str(row key) to the row's cells; a cell id names its row under `key`."""
    new_texts: list[Any] = []
    new_classes: list[Any] = []
    for cell, text, cls in zip(cell_ids, texts, classes, strict=True):
        value = values.get(str(cell.get(key)), {}).get(str(cell.get("field")))
        if value is None:
            new_texts.append(no_update)
            new_classes.append(no_update)
            continue
        new_texts.append(value[0] if value[0] != text else no_update)
        new_classes.append(value[1] if value[1] != (cls or "") else no_update)
    return new_texts, new_classes


def refresh_cells(values: Mapping[str, Cells], key: str, texts: Any, classes: Any) -> tuple[list[Any], list[Any]]:
    """The body of a cells callback (outputs: the cells' children and className, wildcard ALL): the new values,
    or PreventUpdate when nothing moved or the request is malformed (a wildcard output takes a list, never a bare
    no_update)."""
    cell_ids = [o["id"] for o in dash_ctx.outputs_list[0]]
    if not (isinstance(texts, list) and isinstance(classes, list) and len(texts) == len(classes) == len(cell_ids)):
        raise PreventUpdate  # a malformed (forged) request: nothing to compare with
    new_texts, new_classes = cell_updates(values, key, cell_ids, texts, classes)
    if all(t is no_update for t in new_texts) and all(c is no_update for c in new_classes):
        raise PreventUpdate
    return new_texts, new_classes
