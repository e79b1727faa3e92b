"""UI factories of the Parameters page's sheet editor: one editor per parameter, table grids, a sheet's body.
No data access. The page around it (navigation, diffs, error lists, dialogs, toolbar): components/param_chrome.py.

Why factories: the page builds only the selected sheet (a few dozen editors) on demand; these
functions turn schema specs and plain values into components, so the page file stays readable.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

from components.ids import parameters as ids
from engine.params.schema import FieldSpec, SheetSpec

INVALID_CELL_CLASS = "bg-danger-subtle text-danger fw-semibold"
ERROR_TIP = "params.data.__errors ? params.data.__errors[params.colDef.field] : undefined"


def cell_text(v: Any) -> Any:
    """A canonical value as a user types it: TRUE/FALSE, comma lists, plain numbers."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, list | tuple):
        return ",".join(str(cell_text(i)) for i in v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def kv_key(sheet: str, section: str, name: str) -> str:
    """Id of a key/value parameter in editor ids and pending edits."""
    return f"{sheet}|{section}|{name}"


def cell_key(sheet: str, section: str, row: int, name: str) -> str:
    """Id of one table cell by position (row 0-based): grid events and validation messages. Pending edits store
    the row by its key instead, so they follow it (webapp/param_rows.py)."""
    return f"{sheet}|{section}|{row}|{name}"


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:g}"


def slider_step(f: FieldSpec) -> float:
    """Integer steps for integers; about 100 steps across the range for numbers."""
    if f.type == "integer":
        return 1
    span = float(f.max or 0.0) - float(f.min or 0.0)  # sliders are only for fields with both bounds
    return 10 ** math.floor(math.log10(span / 100)) if span > 0 else 1


def is_slider(f: FieldSpec) -> bool:
    return f.type in ("number", "integer") and f.min is not None and f.max is not None and f.max > f.min


def usage_badge(f: FieldSpec) -> html.Span:
    if f.used:
        return dbc.Badge(f"used by {f.consumer}", color="success", className="me-1 fw-normal")
    reason = f.unused_reason or (f"display only ({f.consumer})" if f.consumer else "no engine module reads it")
    return dbc.Badge(f"not used by this engine: {reason}", color="secondary", className="me-1 fw-normal text-wrap")


def field_facts(f: FieldSpec) -> html.Div:
    """Unit, bounds/options, default and the engine consumer of one parameter."""
    facts: list[Any] = []
    if f.unit:
        facts.append(f"unit {f.unit}")
    if f.min is not None or f.max is not None:
        facts.append(f"range {_num(f.min)} – {_num(f.max)}")
    if f.options and f.type != "enum":
        facts.append("options " + ", ".join(f.options))
    facts.append(f"default {cell_text(f.default) if f.default is not None else '(empty)'}")
    facts.append(f"type {f.type}")
    return html.Div([usage_badge(f), html.Span(" · ".join(str(x) for x in facts))], className="small text-muted")


def value_control(key: str, f: FieldSpec, value: Any) -> Any:
    """The editor of one key/value parameter; its value component always has id parameters-value."""
    vid = {"type": ids.VALUE, "name": key}
    if f.type == "boolean":
        return dbc.Switch(id=vid, value=bool(value), className="mb-0")
    if f.type == "enum":
        return dcc.Dropdown(id=vid, options=list(f.options), value=value, clearable=False,
                            style={"minWidth": "12rem"})
    if is_slider(f):
        number = typed_number(value)  # an edit holds the text as typed
        lo, hi = float(f.min or 0.0), float(f.max or 0.0)  # is_slider: both bounds exist
        slider_value = min(max(number, lo), hi) if number is not None else lo
        return dbc.Row([
            dbc.Col(dcc.Slider(id={"type": ids.SLIDER, "name": key}, min=f.min, max=f.max,
                               step=slider_step(f), value=slider_value, allow_direct_input=False,
                               marks={f.min: _num(f.min), f.max: _num(f.max)}, updatemode="mouseup"), width=8),
            dbc.Col(number_input(vid, f, value), width=4),
        ], className="g-2 align-items-center")
    if f.type in ("number", "integer"):
        return number_input(vid, f, value)
    return dbc.Input(id=vid, type="text", value=cell_text(value), debounce=True, size="sm")


def number_input(vid: dict[str, str], f: FieldSpec, value: Any) -> dbc.Input:
    """A number typed as text: a browser's type=number input sends nothing for "abc", "NaN" or "1e999", so the
    server could only say "the cell is empty"; as text, the typed value reaches the validator (engine.params.coerce),
    which quotes it ("found 'abc'; expected a number") exactly as a workbook upload does."""
    return dbc.Input(id=vid, type="text", inputMode="numeric" if f.type == "integer" else "decimal",
                     value=cell_text(value), debounce=True, size="sm", autoComplete="off")


def typed_number(raw: Any) -> float | None:
    """The finite number a number cell's text means, or None (text, blank, NaN, infinity, TRUE/FALSE)."""
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        x = float(str(raw).strip().replace("\u2212", "-")) if isinstance(raw, str) else float(raw)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def param_editor(key: str, f: FieldSpec, value: Any, error: str | None, pending: bool) -> dbc.ListGroupItem:
    """One parameter: name, description, facts, editor and its validation message."""
    title = html.Div([html.Strong(f.header, className="me-2"),
                      html.Code(f.name, className="small me-2") if f.name != f.header else None,
                      dbc.Badge("edited", color="warning", className="fw-normal") if pending else None])
    return dbc.ListGroupItem(dbc.Row([
        dbc.Col([title, html.Div(f.description, className="small"), field_facts(f)], md=6),
        dbc.Col([value_control(key, f, value),
                 html.Div(error or "", id={"type": ids.ERROR, "name": key},
                          className="small text-danger mt-1")], md=6),
    ], className="g-2"), id={"type": ids.ROW, "name": key})


def _column_def(f: FieldSpec) -> dict[str, Any]:
    tip = f.description + (f" ({f.unit})" if f.unit else "")
    if f.min is not None or f.max is not None:
        tip += f" · range {_num(f.min)} – {_num(f.max)}"
    if f.options:
        tip += " · options " + ", ".join(f.options)
    col: dict[str, Any] = {
        "field": f.name, "headerName": f.header, "headerTooltip": tip + (" · used" if f.used else " · not used"),
        "editable": True, "cellClassRules": {INVALID_CELL_CLASS: "params.data.__errors && "
                                             "params.data.__errors[params.colDef.field]"},
        "tooltipValueGetter": {"function": ERROR_TIP},
    }
    if f.type == "enum" and f.options:
        col["cellEditor"] = "agSelectCellEditor"
        col["cellEditorParams"] = {"values": list(f.options)}
    return col


def table_grid(key: str, fields: Sequence[FieldSpec], rows: list[dict[str, Any]]) -> dag.AgGrid:
    """An editable table section; each row carries __row (its id) and __errors (column -> message)."""
    return dag.AgGrid(
        id={"type": ids.GRID, "name": key},
        columnDefs=[{"field": "__n", "headerName": "#", "editable": False, "maxWidth": 70, "minWidth": 60},
                    *[_column_def(f) for f in fields]],
        rowData=rows,
        getRowId="params.data.__row",
        defaultColDef={"resizable": True, "minWidth": 110, "singleClickEdit": True,
                       "cellDataType": False},  # text editors: an invalid entry must reach validation
        dashGridOptions={"animateRows": False, "stopEditingWhenCellsLoseFocus": True, "tooltipShowDelay": 200,
                         "rowSelection": {"mode": "singleRow", "checkboxes": True, "enableClickSelection": True}},
        columnSize="autoSize",
        style={"height": f"{min(560, 52 + 42 * max(len(rows), 1))}px"},
        className="ag-theme-alpine",
    )


def table_section(title: str, description: str, fields: Sequence[FieldSpec], key: str,
                  rows: list[dict[str, Any]]) -> html.Div:
    used = sum(f.used for f in fields)
    unused = [f for f in fields if not f.used]
    note = [usage_badge(f) for f in unused[:1]] if unused and not used else []
    return html.Div([
        html.H6([title, html.Small(f"  {len(rows)} rows · {used}/{len(fields)} columns used by the engine",
                                   className="text-muted")], className="mt-2"),
        html.Div(description, className="small text-muted mb-1"), *note,
        table_grid(key, fields, rows),
        dbc.ButtonGroup([
            dbc.Button("Add row", id={"type": ids.ROW_ADD, "name": key}, size="sm", color="secondary",
                       outline=True),
            dbc.Button("Delete selected row", id={"type": ids.ROW_DELETE, "name": key}, size="sm",
                       color="danger", outline=True),
        ], className="mt-1"),
    ], className="mb-3")


def grid_rows(fields: Sequence[FieldSpec], rows: Sequence[dict[str, Any]], sheet: str, section: str,
              errors: dict[str, str]) -> list[dict[str, Any]]:
    """rowData of a table section: values as typed, __row (0-based id) and __errors (column -> message)."""
    out = []
    for i, r in enumerate(rows):
        row: dict[str, Any] = {f.name: cell_text(r.get(f.name)) for f in fields}
        row["__row"], row["__n"] = str(i), i + 1  # __row: the grid's row id (a string), __n: shown
        row["__errors"] = {f.name: errors[k] for f in fields if (k := cell_key(sheet, section, i, f.name)) in errors}
        out.append(row)
    return out


def sheet_body(spec: SheetSpec, values: dict[str, Any], errors: dict[str, str], edited: set[str],
               counts: tuple[int, int]) -> html.Div:
    """Everything editable on one sheet: key/value editors and one grid per table section."""
    parts: list[Any] = [
        html.H5(spec.name, id=ids.SHEET_TITLE, className="mb-0"),
        html.Div([spec.description, html.Span(f"  ·  group {spec.group}  ·  {counts[0]} of {counts[1]} "
                                              "parameters/columns used by the engine", className="text-muted")],
                 className="small mb-2"),
    ]
    for sec in spec.data_sections:
        title = sec.title if sec.title and sec.title != spec.title else None
        if sec.kind == "kv":
            items = []
            for f in sec.fields:
                key = kv_key(spec.name, sec.key, f.name)
                items.append(param_editor(key, f, values[sec.key].get(f.name), errors.get(key), key in edited))
            parts += [html.H6(title, className="mt-2") if title else None, dbc.ListGroup(items, className="mb-3")]
        else:
            rows = grid_rows(sec.fields, values[sec.key], spec.name, sec.key, errors)
            parts.append(table_section(title or "Table", sec.description, sec.fields,
                                       f"{spec.name}|{sec.key}", rows))
    return html.Div(parts)
