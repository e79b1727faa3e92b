"""The Trading page's positions card is drawn again only when its rows change; marks and P&L are written into its
cells in place. A redraw replaced the Close buttons under a trader's click (and made Dash rerun the Close callback
with no click, superseding the click's request), so the first Close click after a page load was sometimes lost.

Expected values are written out by hand (money as the page shows it: "$1,234.50", "-$5.00")."""
from __future__ import annotations

from typing import Any

from dash import no_update

from components.trading_tables import CLOSE_TYPE, POSITION_CELL
from tests.dash_tree import component_ids
from webapp.trading_positions import cell_updates, table_update


def position(symbol: str, qty: float, entry: float, mark: float | None, pnl: float | None) -> dict[str, Any]:
    return {"symbol": symbol, "qty": qty, "avg_entry_price": entry, "market_price": mark, "unrealized_pnl": pnl}


AAA = position("AAA", 10, 100.0, 101.0, 10.0)
BBB = position("BBB", -5, 50.0, 51.0, -5.0)


def cell(symbol: str, field: str) -> dict[str, str]:
    return {"type": "trading-position-cell", "symbol": symbol, "field": field}


# ---- the table: redrawn only when its rows change -------------------------------------------------------
def test_first_refresh_draws_the_table_with_a_close_button_and_value_cells_per_row() -> None:
    table, shape = table_update([AAA, BBB], True, None)
    assert shape == [True, ["AAA", "BBB"]]
    ids = component_ids(table)
    assert {"type": "trading-close-position", "index": "AAA"} in ids
    assert {"type": "trading-close-position", "index": "BBB"} in ids
    assert cell("AAA", "market_price") in ids and cell("BBB", "unrealized_pnl") in ids
    assert CLOSE_TYPE == "trading-close-position" and POSITION_CELL == "trading-position-cell"


def test_moving_marks_and_pnl_do_not_redraw_the_table() -> None:
    _table, shape = table_update([AAA, BBB], True, None)
    moved = [position("AAA", 10, 100.0, 103.5, 35.0), position("BBB", -5, 50.0, 49.0, 5.0)]
    assert table_update(moved, True, shape) == (no_update, no_update)
    assert table_update([AAA, BBB], True, [True, ["AAA", "BBB"]]) == (no_update, no_update)


def test_a_new_or_gone_symbol_or_the_close_column_redraws_the_table() -> None:
    shown = [True, ["AAA", "BBB"]]
    table, shape = table_update([AAA, BBB, position("CCC", 1, 10.0, 10.0, 0.0)], True, shown)
    assert shape == [True, ["AAA", "BBB", "CCC"]] and table is not no_update
    assert {"type": "trading-close-position", "index": "CCC"} in component_ids(table)
    table, shape = table_update([BBB], True, shown)
    assert shape == [True, ["BBB"]] and {"type": "trading-close-position", "index": "AAA"} not in component_ids(table)
    table, shape = table_update([AAA, BBB], False, shown)  # a viewer's table has no Close column
    assert shape == [False, ["AAA", "BBB"]]
    assert not [i for i in component_ids(table) if isinstance(i, dict) and i.get("type") == "trading-close-position"]
    table, shape = table_update([], True, shown)
    assert shape == [True, []] and table.children == "No positions."


# ---- the cells: only the values that moved are sent --------------------------------------------------------
CELL_IDS = [cell(s, f) for s in ("AAA", "BBB") for f in ("qty", "avg_entry_price", "market_price", "unrealized_pnl")]
SHOWN_TEXTS = ["10", "$100.00", "$101.00", "$10.00", "-5", "$50.00", "$51.00", "-$5.00"]
SHOWN_CLASSES = ["", "", "", "text-success", "", "", "", "text-danger"]


def test_unchanged_values_send_no_update_for_every_cell() -> None:
    texts, classes = cell_updates([AAA, BBB], CELL_IDS, SHOWN_TEXTS, SHOWN_CLASSES)
    assert texts == [no_update] * 8 and classes == [no_update] * 8


def test_a_moved_mark_and_a_pnl_changing_sign_update_only_their_cells() -> None:
    moved = [position("AAA", 10, 100.0, 99.5, -5.0), BBB]
    texts, classes = cell_updates(moved, CELL_IDS, SHOWN_TEXTS, SHOWN_CLASSES)
    assert texts == [no_update, no_update, "$99.50", "-$5.00", no_update, no_update, no_update, no_update]
    assert classes == [no_update, no_update, no_update, "text-danger", no_update, no_update, no_update, no_update]


def test_a_fill_changes_quantity_and_entry_in_place_and_big_numbers_are_grouped() -> None:
    bigger = [position("AAA", 1200, 1234.5, 1240.0, 6600.0), BBB]
    texts, _classes = cell_updates(bigger, CELL_IDS, SHOWN_TEXTS, SHOWN_CLASSES)
    assert texts[:4] == ["1,200", "$1,234.50", "$1,240.00", "$6,600.00"]


def test_cells_of_a_row_that_has_gone_are_left_to_the_table_redraw() -> None:
    texts, classes = cell_updates([BBB], CELL_IDS, SHOWN_TEXTS, SHOWN_CLASSES)
    assert texts == [no_update] * 8 and classes == [no_update] * 8


def test_an_unset_class_counts_as_empty_and_an_unknown_mark_shows_a_dash() -> None:
    texts, classes = cell_updates([position("AAA", 10, 100.0, None, None)], CELL_IDS[:4], ["10", "$100.00", "$101.00",
                                                                                              "$10.00"], [None] * 4)
    assert texts == [no_update, no_update, "—", "—"]
    assert classes == [no_update, no_update, no_update, "text-success"]
