"""Table factories: dash-ag-grid for long, sortable lists; a compact dbc table for short ones."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import html

# Column titles for record fields that are not one plain word (a grid shows a bare field as "Ts", "Client_order_id").
HEADERS = {
    "ts": "Time (UTC)", "qty": "Quantity", "pnl": "P&L", "client_order_id": "Client order id",
    "entry_ts": "Entry time (UTC)", "exit_ts": "Exit time (UTC)", "entry_price": "Entry price",
    "exit_price": "Exit price", "created_at": "Time (UTC)",
}


def header_words(field: str) -> str:
    """A field's column title in words: the HEADERS entry, else 'client_order_id' -> 'Client order id'."""
    return HEADERS.get(field) or field.replace("_", " ").capitalize()


def column(field: str, header: str | None = None, **options: Any) -> dict[str, Any]:
    """An ag-grid column definition that always carries a headerName in words."""
    return {"field": field, "headerName": header or header_words(field), **options}


def records_grid(grid_id: str, columns: Sequence[dict[str, Any]], height: int = 320) -> dag.AgGrid:
    """An empty read-only grid; a callback fills rowData."""
    return dag.AgGrid(
        id=grid_id,
        columnDefs=list(columns),
        rowData=[],
        defaultColDef={"sortable": True, "filter": True, "resizable": True, "minWidth": 90},
        dashGridOptions={"animateRows": False, "domLayout": "normal", "suppressCellFocus": True},
        columnSize="responsiveSizeToFit",
        style={"height": f"{height}px"},
        className="ag-theme-alpine",
    )


def small_table(header: Sequence[str], rows: Sequence[Sequence[Any]], empty: str,
                row_classes: Sequence[str] | None = None) -> dbc.Table | html.Div:
    """`row_classes`: a CSS class per row ("" for none), e.g. "table-warning" on rows whose price is stale."""
    if not rows:
        return html.Div(empty, className="text-muted small")
    classes = list(row_classes or ())
    classes += [""] * (len(rows) - len(classes))

    def tr(row: Sequence[Any], cls: str) -> html.Tr:
        cells = [html.Td(cell) for cell in row]
        return html.Tr(cells, className=cls) if cls else html.Tr(cells)

    return dbc.Table(
        [html.Thead(html.Tr([html.Th(h) for h in header])),
         html.Tbody([tr(row, cls) for row, cls in zip(rows, classes, strict=False)])],
        size="sm", striped=True, hover=True, className="mb-0", responsive=True,  # scrolls inside its column
    )
