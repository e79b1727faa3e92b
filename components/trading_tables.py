"""Display factories for the Trading page: positions, open orders (with a cancel button each),
fills, control-step progress, reconciliation and the control audit trail. No data access: each
takes the plain dicts the store queries return."""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import dash_bootstrap_components as dbc
from dash import html

from components import formatting as fmt
from components.ids import trading as ids
from components.slot_table import MAX_SLOTS, Cells, SlotSpec, capacity_for, draw
from components.tables import small_table
from engine.trading.reject_reasons import reached_broker

STEP_ICONS = {"pending": "○", "running": "◔", "done": "✔", "failed": "✘", "skipped": "–"}
STEP_COLOURS = {"pending": "text-muted", "running": "text-primary", "done": "text-success", "failed": "text-danger",
                "skipped": "text-secondary"}
CANCEL_TYPE = ids.CANCEL_ORDER


CLOSE_TYPE = ids.CLOSE_POSITION


def symbol_chart_link(symbol: str) -> str:
    return f"/performance?symbol={quote(symbol)}"


# Positions and open orders are slot tables (components/slot_table.py): drawn once, then filled in place
# (webapp/trading_positions.py, webapp/trading_orders.py), so a Close or Cancel button is never redrawn under a click.
POSITIONS = SlotSpec(
    name="trading-position",
    fields=("symbol", "qty", "avg_entry_price", "market_price", "unrealized_pnl"),
    header=("Symbol", "Qty", "Avg entry", "Mark", "Unrealized P&L"),
    empty="No positions.", more="{shown} of {total} positions shown; the kill switch with flatten closes every one of them.",
    button="Close", button_type=CLOSE_TYPE, link=symbol_chart_link)
POSITION_CELL = f"{POSITIONS.name}-cell"

ORDERS = SlotSpec(
    name="trading-order",
    fields=("id", "symbol", "side", "qty", "limit_price", "status", "filled_qty", "filled_avg_price", "origin",
            "created_at"),
    header=("Order", "Symbol", "Side", "Qty", "Limit", "Status", "Filled", "Avg fill", "Origin", "Created"),
    empty="No open orders.",
    more="{shown} of {total} open orders shown, newest first; the kill switch cancels every one of them.",
    button="Cancel", button_type=CANCEL_TYPE)
ORDER_CELL = f"{ORDERS.name}-cell"


def position_cells(p: dict[str, Any]) -> Cells:
    """A position's cells as {field: (text, className)}; the symbol is its row key."""
    pnl = p.get("unrealized_pnl")
    return {"symbol": (str(p["symbol"]), ""), "qty": (fmt.number(p["qty"], 0), ""),
            "avg_entry_price": (fmt.money(p["avg_entry_price"]), ""),
            "market_price": (fmt.money(p.get("market_price")), ""),
            "unrealized_pnl": (fmt.money(pnl), "text-success" if (pnl or 0) >= 0 else "text-danger")}


def positions_table(positions: Sequence[dict[str, Any]], can_close: bool = False) -> Any:
    """Positions with P&L in slots; for a trader, a Close button per row (a confirm dialog follows, pages/trading.py)."""
    cells = [position_cells(p) for p in positions][:MAX_SLOTS]
    return draw(POSITIONS, [*cells, *[None] * (capacity_for(len(cells)) - len(cells))], can_close, len(positions))


def order_cells(o: dict[str, Any]) -> Cells:
    """An open order's cells as {field: (text, className)}; its id (orders.id) is its row key."""
    limit = fmt.money(o["limit_price"]) if o.get("limit_price") is not None else "market"
    return {"id": (str(o["id"]), "text-muted"), "symbol": (str(o["symbol"]), ""), "side": (str(o["side"]), ""),
            "qty": (fmt.number(o["qty"], 0), ""), "limit_price": (limit, ""), "status": (str(o["status"]), ""),
            "filled_qty": (fmt.number(o.get("filled_qty"), 0), ""),
            "filled_avg_price": (fmt.money(o.get("filled_avg_price")), ""), "origin": (str(o.get("origin") or ""), ""),
            "created_at": (fmt.timestamp(o.get("created_at")), "")}


NOT_SENT_TITLE = "nothing reached the broker: not counted as a broker rejection toward the rejection halt"


def _reason(text: str) -> Any:
    """A broker's or a risk check's refusal in red; "not sent: ..." (refused before anything reached the broker,
    engine/trading/reject_reasons.py) in grey, with a tooltip saying it does not count toward the halt."""
    if reached_broker(text):
        return html.Span(text, className="small text-danger")
    return html.Span(text, className="small text-secondary", title=NOT_SENT_TITLE)


def rejected_orders_table(orders: Sequence[dict[str, Any]]) -> Any:
    """Rejected orders and why, in the refusing party's own words (a risk check, Alpaca's status and message, or
    "not sent: ..." when nothing reached the broker)."""
    rows = [[fmt.timestamp(o.get("updated_at") or o.get("created_at")), o["symbol"], o["side"], fmt.number(o["qty"], 0),
             o.get("origin", ""), _reason(o.get("reject_reason") or "")] for o in orders]
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
