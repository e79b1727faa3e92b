"""UI factories of the Parameters page around the sheet editor: sheet navigation, search hits, the
pending-changes diff, grouped error lists, confirm dialogs and the toolbar (its role locks). No data access.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.ids import parameters as ids
from engine.params.schema import SheetSpec


def sheet_nav(groups: dict[str, list[SheetSpec]], counts: dict[str, tuple[int, int]]) -> html.Div:
    """Sheets grouped by schema group; counts = sheet -> (used, total)."""
    blocks = []
    for group, sheets in groups.items():
        items = [dbc.ListGroupItem(
            [html.Span(sh.name), html.Small(f" {counts[sh.name][0]}/{counts[sh.name][1]}", className="text-muted")],
            id={"type": ids.SHEET_LINK, "sheet": sh.name}, action=True, n_clicks=0,
            className="py-1 small") for sh in sheets]
        blocks.append(html.Div([html.Div(group, className="kpi-title mt-2 mb-1"),
                                dbc.ListGroup(items, flush=True)]))
    return html.Div(blocks, id=ids.NAV)


def search_hits(hits: Iterable[tuple[str, str, str, str]], total: int) -> html.Div:
    """hits = (sheet, section title, name, description); each opens its sheet when clicked."""
    items = [dbc.ListGroupItem([html.Strong(name), html.Span(f"  {sheet}", className="text-muted"),
                                html.Div(desc, className="small text-muted")],
                               id={"type": ids.SEARCH_HIT, "sheet": sheet, "name": name}, action=True,
                               n_clicks=0, className="py-1 small")
             for sheet, _sec, name, desc in hits]
    shown = len(items)
    head = f"{total} match{'es' if total != 1 else ''}" + (f", first {shown} shown" if shown < total else "")
    return html.Div([html.Div(head, className="small text-muted mb-1"), dbc.ListGroup(items)])


def diff_table(rows: Sequence[dict[str, Any]], empty: str) -> Any:
    """Pending or historical changes: sheet, cell, parameter, old -> new (and a problem when invalid)."""
    if not rows:
        return html.Div(empty, className="text-muted small")
    body = [html.Tr([html.Td(r["sheet"]), html.Td(html.Code(r["cell"])), html.Td(r["parameter"]),
                     html.Td(str(r["old"])), html.Td("→"), html.Td(str(r["new"])),
                     html.Td(r.get("error") or "", className="text-danger")],
                    className="table-danger" if r.get("error") else None) for r in rows]
    return dbc.Table([html.Thead(html.Tr([html.Th(h) for h in
                                          ("Sheet", "Cell", "Parameter", "Old", "", "New", "Problem")])),
                      html.Tbody(body)], size="sm", striped=True, className="mb-0 small")


def issues_by_sheet(issues: Sequence[dict[str, Any]], title: str, color: str = "danger",
                    id: str = ids.ISSUES) -> html.Div:
    """Every problem at once, grouped by sheet, each as 'Sheet!Cell: message; expected ...; fix'."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for i in issues:
        groups.setdefault(i["sheet"], []).append(i)
    blocks = []
    for sheet, items in groups.items():
        lines = []
        for i in items:
            extra = "; ".join(x for x in (f"expected {i['expected']}" if i.get("expected") else "",
                                          i.get("fix") or "") if x)
            lines.append(html.Li([html.Code(i["where"]), f": {i['message']}", f"; {extra}" if extra else ""],
                                 className="parameters-issue"))
        blocks.append(html.Div([html.Strong(f"{sheet} ({len(items)})"), html.Ul(lines, className="mb-1")]))
    return dbc.Alert([html.Div(title, className="fw-semibold mb-1"), *blocks], color=color,
                     className="small", id=id)


def upload_warnings(issues: Sequence[dict[str, Any]]) -> html.Details | None:
    """The warnings an upload's summary counts, folded under their count so the number leads somewhere."""
    if not issues:
        return None
    label = f"{len(issues)} warning{'' if len(issues) == 1 else 's'}: show"
    return html.Details([html.Summary(label, className="small"),
                         issues_by_sheet(issues, "Warnings (the workbook is still valid)", "warning",
                                         "parameters-upload-warnings")], id=ids.UPLOAD_WARNINGS_BOX)


def confirm_dialog(prefix: str, title: str, body_id: str, confirm_label: str, with_note: bool = True) -> dbc.Modal:
    """A modal with a body filled by a callback, an optional note field, Cancel and Confirm."""
    note = [dbc.Input(id=f"{prefix}-note", placeholder="note for the version history (why)", maxLength=300)] \
        if with_note else []
    return dbc.Modal([
        dbc.ModalHeader(dbc.ModalTitle(title), close_button=True),
        dbc.ModalBody([html.Div(id=body_id, className="mb-2 small"), *note]),
        dbc.ModalFooter([
            dbc.Button("Cancel", id=f"{prefix}-cancel", color="secondary", outline=True, n_clicks=0),
            dbc.Button(confirm_label, id=f"{prefix}-confirm", color="primary", n_clicks=0),
        ]),
    ], id=f"{prefix}-modal", is_open=False, backdrop="static", centered=True)


def locked(control: Any, reason: str | None) -> Any:
    """`control` itself when the user may use it (reason None); otherwise `control` (which the caller built
    disabled) inside a span whose title says why: a disabled button gets no hover events, so the tooltip sits on
    its wrapper."""
    if reason is None:
        return control
    return html.Span(control, title=reason, className="d-inline-block", tabIndex=0)


def toolbar(apply_locked: str | None = None, upload_locked: str | None = None) -> dbc.Row:
    """Apply/Discard, upload, downloads and the versions toggle of the Parameters page; `*_locked` is the reason
    the user's role may not apply or upload (the control is disabled, the reason is its tooltip), None if it may."""
    no_upload = upload_locked is not None
    return dbc.Row([
        dbc.Col(dbc.ButtonGroup([
            locked(dbc.Button("Apply…", id=ids.APPLY, color="primary", size="sm", disabled=True), apply_locked),
            dbc.Button("Discard", id=ids.DISCARD, color="secondary", outline=True, size="sm"),
        ]), width="auto"),
        dbc.Col(locked(dcc.Upload(dbc.Button("Upload workbook (.xlsx)", size="sm", color="info", outline=True,
                                             disabled=no_upload),
                                  id=ids.UPLOAD, accept=".xlsx,.xlsm,.xls", multiple=False, disabled=no_upload),
                       upload_locked), width="auto"),
        dbc.Col(dbc.ButtonGroup([
            dbc.Button("Download current", id=ids.DOWNLOAD_CURRENT, size="sm", outline=True),
            dbc.Button("Download template", id=ids.DOWNLOAD_TEMPLATE, size="sm", outline=True),
        ]), width="auto"),
        dbc.Col(dbc.Button("Versions", id=ids.VERSIONS_TOGGLE, size="sm", color="dark", outline=True,
                           n_clicks=0), width="auto"),
        dbc.Col(html.Div(id=ids.PENDING_COUNT, className="small text-muted"), className="align-self-center"),
    ], className="g-2 mb-2")
