"""The Trading page's open-orders card is drawn again only when the orders shown change (or the Cancel column);
an order's status, filled quantity and average fill price are written into its cells in place. A redraw on every
status or fill change replaced the Cancel buttons under a trader's click (and made Dash rerun the Cancel callback
with no click, superseding the click's request), so a Cancel click was sometimes lost.

Expected values are written out by hand (money as the page shows it: "$1,234.50"; an unknown price "—")."""
from __future__ import annotations

from typing import Any

from dash import no_update

from components.trading_tables import CANCEL_TYPE, ORDER_CELL
from tests.dash_tree import component_ids
from webapp import trading_cells
from webapp.trading_orders import cell_updates, table_update


def order(order_id: int, symbol: str, status: str = "new", filled: float = 0, avg: float | None = None,
          qty: float = 10, limit: float | None = 95.0) -> dict[str, Any]:
    return {"id": order_id, "symbol": symbol, "side": "buy", "qty": qty, "limit_price": limit, "status": status,
            "filled_qty": filled, "filled_avg_price": avg, "origin": "manual", "created_at": None}


A = order(7, "AAA")
B = order(9, "BBB", qty=1500, limit=None)


def cell(order_id: int, field: str) -> dict[str, Any]:
    return {"type": "trading-order-cell", "order": order_id, "field": field}


def cancel(order_id: int) -> dict[str, Any]:
    return {"type": "trading-cancel-order", "index": order_id}


# ---- the table: redrawn only when the orders shown change -----------------------------------------------
def test_first_refresh_draws_a_cancel_button_and_value_cells_per_order() -> None:
    table, shape = table_update([B, A], True, None)
    assert shape == [True, [9, 7]]
    ids = component_ids(table)
    assert [i for i in ids if isinstance(i, dict) and i["type"] == "trading-cancel-order"] == [cancel(9), cancel(7)]
    assert [i for i in ids if isinstance(i, dict) and i["type"] == "trading-order-cell" and i["order"] == 7] == [
        cell(7, "qty"), cell(7, "limit_price"), cell(7, "status"), cell(7, "filled_qty"), cell(7, "filled_avg_price")]
    assert CANCEL_TYPE == "trading-cancel-order" and ORDER_CELL == "trading-order-cell"


def test_status_fills_and_avg_price_changes_do_not_redraw_the_table() -> None:
    _table, shape = table_update([B, A], True, None)
    moved = [order(9, "BBB", "partially_filled", 700, 101.25, qty=1500, limit=None),
             order(7, "AAA", "pending_new", 0, None)]
    assert table_update(moved, True, shape) == (no_update, no_update)
    assert table_update([B, A], True, [True, [9, 7]]) == (no_update, no_update)


def test_a_new_or_gone_order_or_the_cancel_column_redraws_the_table() -> None:
    shown = [True, [9, 7]]
    table, shape = table_update([order(12, "CCC"), B, A], True, shown)
    assert shape == [True, [12, 9, 7]] and cancel(12) in component_ids(table)
    table, shape = table_update([B], True, shown)  # order 7 cancelled: it leaves the open set
    assert shape == [True, [9]] and cancel(7) not in component_ids(table) and cancel(9) in component_ids(table)
    table, shape = table_update([B, A], False, shown)  # a viewer's table has no Cancel column
    assert shape == [False, [9, 7]]
    assert not [i for i in component_ids(table) if isinstance(i, dict) and i.get("type") == "trading-cancel-order"]
    table, shape = table_update([], True, shown)
    assert shape == [True, []] and table.children == "No open orders."


def test_the_table_shows_the_values_in_its_header_columns() -> None:
    table, _shape = table_update([B], True, None)
    head, body = table.children
    assert [th.children for th in head.children.children] == [
        "Symbol", "Side", "Qty", "Limit", "Status", "Filled", "Avg fill", "Origin", "Created", ""]
    row = body.children[0].children
    texts = [td.children if isinstance(td.children, str) else td.children.children for td in row[:9]]
    assert texts == ["BBB", "buy", "1,500", "market", "new", "0", "—", "manual", "—"]


# ---- the cells: only the values that moved are sent --------------------------------------------------------
FIELDS = ("qty", "limit_price", "status", "filled_qty", "filled_avg_price")
CELL_IDS = [cell(i, f) for i in (9, 7) for f in FIELDS]
SHOWN_TEXTS = ["1,500", "market", "new", "0", "—", "10", "$95.00", "new", "0", "—"]
SHOWN_CLASSES = [""] * 10


def test_unchanged_orders_send_no_update_for_every_cell() -> None:
    texts, classes = cell_updates([B, A], CELL_IDS, SHOWN_TEXTS, SHOWN_CLASSES)
    assert texts == [no_update] * 10 and classes == [no_update] * 10


def test_a_partial_fill_updates_status_filled_and_avg_price_in_place() -> None:
    moved = [order(9, "BBB", "partially_filled", 1200, 1234.5, qty=1500, limit=None), A]
    texts, classes = cell_updates(moved, CELL_IDS, SHOWN_TEXTS, SHOWN_CLASSES)
    assert texts == [no_update, no_update, "partially_filled", "1,200", "$1,234.50",
                     no_update, no_update, no_update, no_update, no_update]
    assert classes == [no_update] * 10


def test_a_replaced_quantity_and_limit_update_in_place() -> None:
    texts, _classes = cell_updates([B, order(7, "AAA", qty=20, limit=94.5)], CELL_IDS, SHOWN_TEXTS, SHOWN_CLASSES)
    assert texts == [no_update] * 5 + ["20", "$94.50", no_update, no_update, no_update]


def test_cells_of_an_order_that_left_the_open_set_are_left_to_the_table_redraw() -> None:
    texts, classes = cell_updates([A], CELL_IDS, SHOWN_TEXTS, SHOWN_CLASSES)
    assert texts == [no_update] * 10 and classes == [no_update] * 10


def test_an_unset_class_counts_as_empty() -> None:
    texts, classes = cell_updates([A], CELL_IDS[5:], SHOWN_TEXTS[5:], [None] * 5)
    assert texts == [no_update] * 5 and classes == [no_update] * 5


# ---- the shared helper: the row key is matched as text (a JSON id may carry it as int or str) --------------
def test_generic_cell_updates_match_row_keys_as_text_and_ignore_unknown_fields() -> None:
    values = {"7": {"status": ("filled", "text-success")}}
    ids = [{"type": "t", "order": 7, "field": "status"}, {"type": "t", "order": "7", "field": "status"},
           {"type": "t", "order": 7, "field": "nope"}, {"type": "t", "order": 8, "field": "status"}]
    texts, classes = trading_cells.cell_updates(values, "order", ids, ["new", "filled", "x", "y"], ["", "", "", ""])
    assert texts == ["filled", no_update, no_update, no_update]
    assert classes == ["text-success", "text-success", no_update, no_update]


def test_generic_table_update_draws_only_on_a_new_shape() -> None:
    drawn: list[int] = []

    def draw() -> str:
        drawn.append(1)
        return "table"

    assert trading_cells.table_update([True, [1]], [True, [1]], draw) == (no_update, no_update) and drawn == []
    assert trading_cells.table_update([True, [1, 2]], [True, [1]], draw) == ("table", [True, [1, 2]])
    assert trading_cells.table_update([True, []], None, draw) == ("table", [True, []]) and drawn == [1, 1]
