"""UI factories of the Regime page's what-if preview: knob editors, the pending-edits list, the
upload box, progress and the comparison summary. Plain data in, components out; no data access.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components import formatting as fmt
from components.charts import empty_figure, graph
from components.ids import regime as ids
from components.regime_views import minutes_text
from components.tables import small_table


def knob_row(key: str, field: str, spec: Any, value: Any, allowed: str = "") -> dbc.Row:
    """One editable parameter (schema FieldSpec `spec`); typed values survive navigation (session).

    Numbers are text boxes (inputMode decimal): a browser number box sends nothing for text it cannot read or
    a value outside min/max, so a wrong value would silently mean "no edit"; here the server reads exactly
    what was typed and names the problem under the box ({"type": KNOB_ERROR, "key": key}). `allowed` is the
    schema's range in words (the box's placeholder and tooltip)."""
    label = html.Label(field.replace("_", " ") + (f" ({spec.unit})" if spec.unit else ""),
                       title=spec.description, className="small mb-0")
    if spec.type == "boolean":
        control: Any = dbc.Switch(id={"type": ids.KNOB_BOOL, "key": key}, value=bool(value),
                                  persistence=True, persistence_type="session")
    else:
        bounds = f"{spec.min}–{spec.max}" if spec.min is not None and spec.max is not None else ""
        control = html.Div([
            dbc.Input(id={"type": ids.KNOB_NUM, "key": key}, type="text", inputMode="decimal", value=value,
                      placeholder=bounds, size="sm", debounce=True, invalid=False,
                      persistence=True, persistence_type="session"),
            html.Div(id={"type": ids.KNOB_ERROR, "key": key}, className="small text-danger"),
        ], title=allowed or bounds)
    return dbc.Row([dbc.Col(label, width=7), dbc.Col(control, width=5)], className="g-1 mb-1 align-items-center")


def whatif_card(knobs: Sequence[dbc.Row], windows: Sequence[int]) -> dbc.Card:
    return dbc.Card(dbc.CardBody([
        html.H5("What-if: pending edits replayed over the stored history", className="card-title"),
        html.Div("Pending edits on the Parameters page are included; the knobs and an uploaded workbook below add "
                 "to them. Nothing is applied: the active version and the edited one are both replayed on copies of "
                 "the same stored bars and option chains.", className="small text-muted mb-2"),
        dbc.Row([
            dbc.Col([html.Div(list(knobs), id=ids.KNOBS),
                     dbc.Button("Reset knobs", id=ids.KNOBS_RESET, size="sm", color="link", className="px-0"),
                     dcc.Upload(id=ids.WHATIF_UPLOAD, accept=".xlsx,.xlsm",
                                children=html.Div(["or drop a parameter workbook (.xlsx) to compare ",
                                                   html.A("choose file")]),
                                className="small border border-secondary-subtle rounded p-2 mt-1 text-center"),
                     html.Div(id=ids.WHATIF_UPLOAD_STATUS, className="small mt-1"),
                     dbc.Button("Remove the uploaded workbook", id=ids.WHATIF_UPLOAD_CLEAR, size="sm",
                                color="link", className="px-0")], md=4),
            dbc.Col([html.H6("Pending edits"), html.Div(id=ids.WHATIF_EDITS_TABLE),
                     dbc.InputGroup([
                         dbc.InputGroupText("compare the last"),
                         dbc.Select(id=ids.WHATIF_WINDOW, value=str(windows[0]),
                                    options=[{"label": f"{w:,} bars", "value": str(w)} for w in windows]),
                     ], size="sm", className="my-2"),
                     dbc.ButtonGroup([
                         dbc.Button("Run what-if", id=ids.WHATIF_RUN, color="primary", size="sm"),
                         dbc.Button("Cancel", id=ids.WHATIF_CANCEL, color="secondary", size="sm", disabled=True),
                     ]),
                     html.Div(dbc.Progress(id=ids.WHATIF_PROGRESS, value=0, label="", striped=True, animated=True,
                                           style={"height": "18px"}),
                              id=ids.WHATIF_PROGRESS_WRAP, className="mt-2", style={"display": "none"})],
                    md=3),
            dbc.Col(html.Div(html.Div("Run the what-if to compare.", className="small text-muted"),
                             id=ids.WHATIF_RESULT), md=5),
        ]),
        graph(ids.WHATIF_TIMELINE, empty_figure("no what-if run yet"), style={"display": "none"}),
    ]), className="mt-3")


def upload_status(name: str, changes: int, error: str | None = None) -> html.Div:
    if error:
        return html.Div(error, className="text-danger", id=ids.WHATIF_UPLOAD_ERROR)
    return html.Div([html.Strong(name), f": valid, {changes} value(s) differ from the active version."],
                    className="text-success", id=ids.WHATIF_UPLOAD_OK)


def edits_table(rows: Sequence[Mapping[str, Any]], origin: str = "", problems: Sequence[str] = ()) -> html.Div:
    """Pending edits: parameter, active value -> pending value (over an uploaded workbook when named);
    `problems` (knob boxes whose text is not a valid value) are listed first: the run is refused until fixed."""
    head = html.Div(f"over the uploaded {origin}", className="small text-muted") if origin else None
    fix = html.Div([html.Div(f"{len(problems)} knob value(s) to fix before a run:", className="fw-semibold"),
                    html.Ul([html.Li(p) for p in problems], className="mb-1")],
                   id=ids.WHATIF_KNOB_PROBLEMS, className="small text-danger") if problems else None
    if not rows:
        return html.Div([fix, head, html.Div("no edits" if origin else "no pending edits", className="text-muted small")])
    return html.Div([fix, head, wrapping_table(["Parameter", "Active", "Pending"], EDITS_COLUMN_WIDTHS,
                                               [(r["label"], str(r["old"]), str(r["new"])) for r in rows])])


# Share of the column each pending-edits column takes (the name is the longest text, the values are often short).
EDITS_COLUMN_WIDTHS = ("46%", "27%", "27%")
# A table that never grows wider than its column: fixed layout (column widths from the <colgroup>, not from the
# longest cell) and long words (parameter names, unbroken values) broken inside their cell, so it wraps.
WRAPPING_TABLE_STYLE = {"tableLayout": "fixed", "width": "100%", "overflowWrap": "anywhere", "wordBreak": "break-word"}


def wrapping_table(header: Sequence[str], widths: Sequence[str], rows: Sequence[Sequence[Any]]) -> dbc.Table:
    """A compact table that fits its column whatever the cells hold: long text wraps, never spills sideways."""
    return dbc.Table(
        [html.Colgroup([html.Col(style={"width": w}) for w in widths]),
         html.Thead(html.Tr([html.Th(h) for h in header])),
         html.Tbody([html.Tr([html.Td(cell) for cell in row]) for row in rows])],
        size="sm", striped=True, hover=True, className="mb-0 small", style=WRAPPING_TABLE_STYLE,
    )


def whatif_summary(summary: Mapping[str, Any]) -> html.Div:
    """Headline numbers of a what-if comparison (current = active version replayed on the same bars)."""
    agree = summary.get("agreement_pct")
    rows = [
        ("Bars compared", summary["bars"], summary["bars"]),
        ("Transitions", summary["transitions_current"], summary["transitions_candidate"]),
        ("Transitions per day", fmt.number(summary["per_day_current"], 1), fmt.number(summary["per_day_candidate"], 1)),
        ("Mean run length", minutes_text(summary["mean_minutes_current"]),
         minutes_text(summary["mean_minutes_candidate"])),
        ("Regime at the last bar", summary["final_current"], summary["final_candidate"]),
    ]
    changes = summary.get("top_changes") or []
    return html.Div([
        html.Div([html.Span("Same regime on ", className="me-1"),
                  html.Strong("—" if agree is None else f"{agree:.1f}%", id=ids.WHATIF_AGREEMENT),
                  html.Span(f" of the bars ({summary['bars_changed']} bars change).", className="ms-1")],
                 className="mb-2"),
        small_table(["", "Active version", "With pending edits"], rows, ""),
        html.Div([html.Div("Largest changes", className="small fw-semibold mt-2"),
                  small_table(["Active says", "Pending edits say", "Bars"],
                              [(c["from"], c["to"], c["bars"]) for c in changes], "")]) if changes else None,
    ], id=ids.WHATIF_SUMMARY)
