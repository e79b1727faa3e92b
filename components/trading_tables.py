"""Display factories for the Trading page: positions, open orders (with a cancel button each),
fills, control-step progress, reconciliation and the control audit trail. No data access: each
takes the plain dicts the store queries return."""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import dash_bootstrap_components as dbc
from dash import dcc, html

from components import formatting as fmt
from components.ids import trading as ids
from components.tables import small_table

STEP_ICONS = {"pending": "○", "running": "◔", "done": "✔", "failed": "✘", "skipped": "–"}
STEP_COLOURS = {"pending": "text-muted", "running": "text-primary", "done": "text-success", "failed": "text-danger",
                "skipped": "text-secondary"}
CANCEL_TYPE = ids.CANCEL_ORDER


CLOSE_TYPE = ids.CLOSE_POSITION
# A position's value cell, {"type": POSITION_CELL, "symbol": ..., "field": ...}: marks and P&L move every tick and are
# written into these cells in place (webapp/trading_positions.py), so the row and its Close button are never redrawn.
POSITION_CELL = "trading-position-cell"


def position_cell_id(symbol: str, field: str) -> dict[str, str]:
    return {"type": POSITION_CELL, "symbol": symbol, "field": field}


def position_cells(p: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """A position's value cells as {field: (text, className)}."""
    pnl = p.get("unrealized_pnl")
    return {"qty": (fmt.number(p["qty"], 0), ""), "avg_entry_price": (fmt.money(p["avg_entry_price"]), ""),
            "market_price": (fmt.money(p.get("market_price")), ""),
            "unrealized_pnl": (fmt.money(pnl), "text-success" if (pnl or 0) >= 0 else "text-danger")}


def positions_shape(positions: Sequence[dict[str, Any]], can_close: bool) -> list[Any]:
    """What the drawn table depends on besides its cell values: the rows (symbols, in order) and the buttons."""
    return [bool(can_close), [p["symbol"] for p in positions]]


def positions_table(positions: Sequence[dict[str, Any]], can_close: bool = False) -> Any:
    """Positions with P&L; for a trader, a Close button per row (a confirm dialog follows, see pages/trading.py).
    The value cells carry ids so a refresh can update them without redrawing the table."""
    rows = []
    for p in positions:
        cells = position_cells(p)
        row: list[Any] = [dcc.Link(p["symbol"], href=f"/performance?symbol={quote(p['symbol'])}",
                                   title="price, fills, P&L")]
        row += [html.Span(text, id=position_cell_id(p["symbol"], field), className=cls)
                for field, (text, cls) in cells.items()]
        if can_close:
            row.append(dbc.Button("Close", id={"type": CLOSE_TYPE, "index": p["symbol"]}, size="sm",
                                  color="outline-danger", n_clicks=0, className="py-0"))
        rows.append(row)
    header = ["Symbol", "Qty", "Avg entry", "Mark", "Unrealized P&L"] + ([""] if can_close else [])
    return small_table(header, rows, "No positions.")


# An open order's value cell, {"type": ORDER_CELL, "order": <orders.id>, "field": ...}: status and fills move while the
# order stays open and are written into these cells in place (webapp/trading_orders.py), so its Cancel button stays.
ORDER_CELL = ids.ORDER_CELL


def order_cell_id(order_id: int, field: str) -> dict[str, Any]:
    return {"type": ORDER_CELL, "order": order_id, "field": field}


def order_cells(o: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """An open order's value cells as {field: (text, className)} (symbol, side, origin and time never change)."""
    limit = fmt.money(o["limit_price"]) if o.get("limit_price") is not None else "market"
    return {"qty": (fmt.number(o["qty"], 0), ""), "limit_price": (limit, ""), "status": (str(o["status"]), ""),
            "filled_qty": (fmt.number(o.get("filled_qty"), 0), ""), "filled_avg_price": (fmt.money(o.get("filled_avg_price")), "")}


def orders_shape(orders: Sequence[dict[str, Any]], can_cancel: bool) -> list[Any]:
    """What the drawn orders table depends on besides its cell values: the orders (ids, in order) and the buttons."""
    return [bool(can_cancel), [o["id"] for o in orders]]


def open_orders_table(orders: Sequence[dict[str, Any]], can_cancel: bool = True) -> Any:
    """Open orders; for a trader, a Cancel button per row (run through the audited control action, pages/trading.py).
    The value cells carry ids so a refresh can update them without redrawing the table."""
    rows = []
    for o in orders:
        cells = [html.Span(text, id=order_cell_id(o["id"], field), className=cls)
                 for field, (text, cls) in order_cells(o).items()]
        button = dbc.Button("Cancel", id={"type": CANCEL_TYPE, "index": o["id"]}, size="sm", color="outline-danger",
                            n_clicks=0, className="py-0") if can_cancel else ""
        qty, limit, status, filled, avg = cells
        rows.append([o["symbol"], o["side"], qty, limit, status, filled, avg, o.get("origin", ""),
                     fmt.timestamp(o.get("created_at")), button])
    return small_table(["Symbol", "Side", "Qty", "Limit", "Status", "Filled", "Avg fill", "Origin", "Created", ""],
                       rows, "No open orders.")


def rejected_orders_table(orders: Sequence[dict[str, Any]]) -> Any:
    """Rejected orders and why, in the refusing party's own words (a risk check, or Alpaca's status and message)."""
    rows = [[fmt.timestamp(o.get("updated_at") or o.get("created_at")), o["symbol"], o["side"], fmt.number(o["qty"], 0),
             o.get("origin", ""), html.Span(o.get("reject_reason", ""), className="small text-danger")] for o in orders]
    return small_table(["Time", "Symbol", "Side", "Qty", "Origin", "Reason"], rows, "No rejected orders.")


def fills_table(fills: Sequence[dict[str, Any]]) -> Any:
    rows = [[fmt.timestamp(f["ts"]), f["symbol"], f["side"], fmt.number(f["qty"], 0), fmt.money(f["price"], 4),
             fmt.money(f["commission"], 4)] for f in fills]
    return small_table(["Time", "Symbol", "Side", "Qty", "Price", "Commission"], rows, "No fills yet.")


def steps_list(command: dict[str, Any] | None) -> Any:
    """The last control action as a live checklist: each step's status, detail and duration."""
    if command is None:
        return html.Div("No control action yet.", className="text-muted small")
    items = []
    for step in command.get("steps", []):
        status = step.get("status", "pending")
        took = f" ({step['duration_ms']:.0f} ms)" if step.get("duration_ms") is not None else ""
        items.append(html.Li(
            [html.Span(STEP_ICONS.get(status, "?"), className=f"me-2 {STEP_COLOURS.get(status, '')}"),
             html.Strong(step.get("name", "")), html.Span(f" — {step.get('detail') or status}{took}",
                                                          className="small")],
            id={"type": ids.STEP, "name": step.get("name", "")},
            **{"data-status": status},
        ))
    header = (f"#{command['id']} {command['kind']} by {command['actor']} at {fmt.timestamp(command['created_at'])}: "
              f"{command['status']}")
    if command.get("executor"):
        header += f" (run by {command['executor']})"
    children: list[Any] = [html.Div(header, className="fw-semibold", id=ids.PROGRESS_STATUS,
                                    **{"data-status": command["status"]}),
                           html.Ul(items, className="list-unstyled ps-0 mb-1")]
    if command.get("message") and command["status"] != "done":
        children.append(html.Div(command["message"], className="small text-danger"))
    return html.Div(children)


def reconciliation_view(run: dict[str, Any] | None) -> Any:
    if run is None:
        return html.Div("No reconciliation yet.", className="text-muted small")
    diffs = run.get("differences") or []
    head = html.Div([dbc.Badge("in agreement" if run["ok"] else f"{len(diffs)} difference(s)",
                               color="success" if run["ok"] else "warning", className="me-2"),
                     html.Span(f"at {fmt.timestamp(run['ts'])}", className="small text-muted")])
    rows = [[d.get("kind", ""), d.get("key", ""), str(d.get("store", "")), str(d.get("broker", ""))] for d in diffs[:50]]
    return html.Div([head, small_table(["Kind", "Key", "Store", "Broker"], rows, "")]) if rows else head


def control_audit_table(events: Sequence[dict[str, Any]]) -> Any:
    rows = [[fmt.timestamp(e["ts"]), e["actor"], e["action"], e.get("target", ""), e["outcome"],
             html.Span(json.dumps(e.get("details", {}), default=str)[:160], className="small")] for e in events]
    return small_table(["Time", "Actor", "Action", "Target", "Outcome", "Details"], rows, "No control actions yet.")
