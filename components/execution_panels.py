"""Display factories for the Trading page's execution section: the protective-stop form, the live stops with
their levels, and sliced parent orders with their children's progress. No data access."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components import formatting as fmt
from components.ids import trading as ids
from components.tables import small_table

REMOVE_STOP_TYPE = ids.REMOVE_STOP
CANCEL_PARENT_TYPE = ids.CANCEL_PARENT
STOP_FIELDS = (  # (id suffix, label, placeholder): every field optional, at least one needed
    ("loss", "Stop-loss %", "e.g. 5"),
    ("trail", "Trailing %", "e.g. 8"),
    ("atr", "Trailing ATRs", "e.g. 3"),
    ("profit", "Take-profit %", "e.g. 15"),
    ("hold", "Max hold (min)", "e.g. 390"),
)


def _field(suffix: str, label: str, placeholder: str) -> dbc.Col:
    return dbc.Col([dbc.Label(label, html_for=ids.stop_field(suffix), className="small mb-0"),
                    dbc.Input(id=ids.stop_field(suffix), type="number", min=0, step="any", size="sm",
                              placeholder=placeholder)], md=2)


def stop_form() -> dbc.Card:
    """Set the exits of one position (replaces the position's current stop)."""
    return dbc.Card([
        dbc.CardHeader("Protective exits for a position (checked by the engine every market tick)"),
        dbc.CardBody([
            dbc.Row([dbc.Col([dbc.Label("Symbol", html_for=ids.STOP_SYMBOL, className="small mb-0"),
                              dbc.Input(id=ids.STOP_SYMBOL, placeholder="Symbol", size="sm", maxLength=16)],
                             md=2),
                     *[_field(*f) for f in STOP_FIELDS]], className="g-2 mb-2"),
            dbc.Button("Set exits", id=ids.STOP_SUBMIT, color="primary", size="sm", n_clicks=0),
            html.Div(id=ids.STOP_RESULT, className="mt-2"),
        ]),
    ], className="mb-3")


def execution_section(trader: bool) -> html.Div:
    """The stops form (traders only), the live stops and the parents, with their own refresh fingerprints."""
    return html.Div([
        html.Div(stop_form(), hidden=not trader, id=ids.STOP_BOX),
        dbc.Row([
            dbc.Col(dbc.Card([dbc.CardHeader("Protective stops"), dbc.CardBody(html.Div(id=ids.STOPS))],
                             className="mb-3"), lg=6),
            dbc.Col(dbc.Card([dbc.CardHeader("Sliced orders (parents and their children)"),
                              dbc.CardBody([html.Div(id=ids.PARENTS),
                                            html.Div(id=ids.PARENT_RESULT, className="mt-2")])],
                             className="mb-3"), lg=6),
        ]),
        dcc.Store(id=ids.EXECUTION_PRINTS, data={}),
    ])


def _level(value: Any) -> str:
    return fmt.money(value, 2) if value is not None else "—"


def stops_table(stops: Sequence[dict[str, Any]], can_edit: bool) -> Any:
    rows = []
    for s in stops:
        trail = (f"{fmt.number(s['trail_pct'], 2)}%" if s.get("trail_pct") is not None else "") + (
            f" {fmt.number(s['trail_atr_mult'], 2)} ATR" if s.get("trail_atr_mult") is not None else "")
        hold = f"{s['max_hold_seconds'] / 60:.0f} min" if s.get("max_hold_seconds") else "—"
        button = dbc.Button("Remove", id={"type": REMOVE_STOP_TYPE, "index": s["symbol"]}, size="sm",
                            color="outline-secondary", n_clicks=0, className="py-0") if can_edit else ""
        rows.append([s["symbol"], "long" if s["direction"] > 0 else "short",
                     html.Span(_level(s.get("stop")), id={"type": ids.STOP_LEVEL, "index": s["symbol"]}),
                     s.get("stop_kind") or "—", trail.strip() or "—", _level(s.get("take_profit")), hold,
                     _level(s.get("extreme")), s.get("checked_by", "engine"), s["status"], s.get("source", ""), button])
    return small_table(["Symbol", "Side", "Stop", "Kind", "Trail", "Take-profit", "Max hold", "Best price",
                        "Checked by", "Status", "Set by", ""], rows, "No protective stops.")


def parents_table(parents: Sequence[dict[str, Any]], can_cancel: bool) -> Any:
    rows = []
    for p in parents:
        bar = dbc.Progress(value=min(100.0, p["pct"]), label=f"{p['pct']:.0f}%", style={"height": "16px",
                                                                                       "minWidth": "90px"})
        button = dbc.Button("Cancel", id={"type": CANCEL_PARENT_TYPE, "index": p["id"]}, size="sm",
                            color="outline-danger", n_clicks=0, className="py-0") \
            if can_cancel and p["status"] == "active" else ""
        rows.append([p["id"], p["symbol"], p["side"], fmt.number(p["qty"], 0), p["mode"], bar,
                     f"{p['children']} ({p['working']} working)", p["status"],
                     html.Span(p.get("note", ""), className="small text-muted"), button])
    return small_table(["#", "Symbol", "Side", "Qty", "Mode", "Filled", "Children", "Status", "Note", ""], rows,
                       "No sliced orders.")
