"""The Trading page's positions and open-orders cards are slot tables: drawn once, then filled in place. A redraw
when a row came or went replaced every Close/Cancel button under a trader's click (Dash mounts every descendant of
replaced children again), so such a click was sometimes lost.

Expected values are written out by hand (money as the page shows it: "$1,234.50", "-$5.00"; unknown "—")."""
from __future__ import annotations

from typing import Any

from dash import no_update

from components.trading_tables import (
    CANCEL_TYPE,
    CLOSE_TYPE,
    ORDER_CELL,
    ORDERS,
    POSITION_CELL,
    POSITIONS,
    order_cells,
    position_cells,
)
from tests.dash_tree import component_ids, nodes
from webapp import slot_rows


def position(symbol: str, qty: float, entry: float, mark: float | None, pnl: float | None) -> dict[str, Any]:
    return {"symbol": symbol, "qty": qty, "avg_entry_price": entry, "market_price": mark, "unrealized_pnl": pnl}


AAA = position("AAA", 10, 100.0, 101.0, 10.0)
BBB = position("BBB", -5, 50.0, 51.0, -5.0)


def rows(*positions: dict[str, Any]) -> dict[str, Any]:
    return {p["symbol"]: position_cells(p) for p in positions}


def page_of(table: Any) -> slot_rows.Page:
    """What the browser would send as states for a drawn slot table (cells in layout order, rows' hidden flags)."""
    cells: list[tuple[dict[str, Any], Any, Any]] = []
    rows_: list[tuple[dict[str, Any], Any]] = []
    for node in nodes(table):
        ident = getattr(node, "id", None)
        if isinstance(ident, dict) and str(ident.get("type", "")).endswith("-cell"):
            cells.append((ident, node.children, getattr(node, "className", None)))
        elif isinstance(ident, dict) and str(ident.get("type", "")).endswith("-row"):
            rows_.append((ident, getattr(node, "hidden", None)))
    return slot_rows.Page([c[0] for c in cells], [c[1] for c in cells], [c[2] for c in cells],
                          [r[0] for r in rows_], [r[1] for r in rows_])


def shown_after(page: slot_rows.Page, texts: list[Any], classes: list[Any], hidden: list[Any]) -> slot_rows.Page:
    """The page once the browser applied an update (no_update keeps the old value)."""
    def apply(old: list[Any], new: list[Any]) -> list[Any]:
        return [o if n is no_update else n for o, n in zip(old, new, strict=True)]
    return slot_rows.Page(page.cell_ids, apply(page.texts, texts), apply(page.classes, classes),
                          page.row_ids, apply(page.hidden, hidden))


# ---- which row each slot shows -----------------------------------------------------------------------------
def test_rows_keep_their_slot_a_gone_row_empties_it_and_a_new_one_fills_an_already_empty_slot() -> None:
    assert slot_rows.assign(["A", "B", None], ["B", "C"]) == [None, "B", "C"]
    assert slot_rows.assign(["A", None, "B"], ["A", "B"]) == ["A", None, "B"]  # no reordering, no compaction


def test_a_slot_emptied_by_this_refresh_is_not_refilled_by_it_the_new_row_waits_one_refresh() -> None:
    first = slot_rows.assign(["A", "B"], ["B", "C"])
    assert first == [None, "B"]  # never "A" then "C" in the same slot from one frame to the next
    assert slot_rows.assign(first, ["B", "C"]) == ["C", "B"]


def test_a_redraw_may_reuse_any_empty_slot_and_a_key_shown_twice_keeps_its_first_slot() -> None:
    assert slot_rows.assign(["A", "B", None, None], ["B", "C", "D"], reuse_emptied=True) == ["C", "B", "D", None]
    assert slot_rows.assign(["A", "A", None], ["A"]) == ["A", None, None]


# ---- the positions card ----------------------------------------------------------------------------------
def test_first_refresh_draws_ten_slots_with_a_close_button_each_and_the_two_positions_in_order() -> None:
    table, shape = slot_rows.redraw(POSITIONS, rows(AAA, BBB), True, [])
    assert shape == [True, 10]
    ids = component_ids(table)
    assert [i["slot"] for i in ids if isinstance(i, dict) and i["type"] == CLOSE_TYPE] == list(range(10))
    page = page_of(table)
    assert page.slot_keys("symbol") == ["AAA", "BBB"] + [None] * 8
    assert page.hidden == [False, False] + [True] * 8
    assert dict(zip([(c["slot"], c["field"]) for c in page.cell_ids], page.texts, strict=True))[(1, "unrealized_pnl")] \
        == "-$5.00"
    assert CLOSE_TYPE == "trading-close-position" and POSITION_CELL == "trading-position-cell"


def test_moving_marks_update_only_their_cells_and_no_row_shows_or_hides() -> None:
    table, shape = slot_rows.redraw(POSITIONS, rows(AAA, BBB), True, [])
    page = page_of(table)
    moved = rows(position("AAA", 10, 100.0, 99.5, -5.0), BBB)
    texts, classes, hidden, _slots = slot_rows.cell_updates(POSITIONS, moved, page)
    changed = {(c["slot"], c["field"]): t for c, t in zip(page.cell_ids, texts, strict=True) if t is not no_update}
    assert changed == {(0, "market_price"): "$99.50", (0, "unrealized_pnl"): "-$5.00"}
    assert [c for c in classes if c is not no_update] == ["text-danger"]
    assert all(h is no_update for h in hidden)


def test_a_new_position_fills_the_first_empty_slot_and_a_closed_one_empties_its_slot() -> None:
    table, shape = slot_rows.redraw(POSITIONS, rows(AAA, BBB), True, [])
    page = page_of(table)
    ccc = position("CCC", 1200, 1234.5, 1240.0, 6600.0)
    texts, classes, hidden, slots = slot_rows.cell_updates(POSITIONS, rows(BBB, ccc), page)
    assert slots == [None, "BBB", "CCC"] + [None] * 7
    assert hidden == [True, no_update, False] + [no_update] * 7
    changed = {(c["slot"], c["field"]): t for c, t in zip(page.cell_ids, texts, strict=True) if t is not no_update}
    assert changed == {(0, "symbol"): "", (0, "qty"): "", (0, "avg_entry_price"): "", (0, "market_price"): "",
                       (0, "unrealized_pnl"): "", (2, "symbol"): "CCC", (2, "qty"): "1,200",
                       (2, "avg_entry_price"): "$1,234.50", (2, "market_price"): "$1,240.00",
                       (2, "unrealized_pnl"): "$6,600.00"}
    after = shown_after(page, texts, classes, hidden)
    assert after.slot_keys("symbol") == [None, "BBB", "CCC"] + [None] * 7
    again = slot_rows.cell_updates(POSITIONS, rows(BBB, ccc), after)
    assert all(v is no_update for part in again[:3] for v in part)  # nothing left to send


def test_more_positions_than_slots_draw_the_table_again_with_every_position_kept_in_its_slot() -> None:
    many = [position(f"S{i:02d}", 1, 10.0, 10.0, 0.0) for i in range(10)]
    table, shape = slot_rows.redraw(POSITIONS, rows(*many), True, [])
    page = page_of(table)
    eleven = rows(*many[1:], position("NEW", 1, 10.0, 10.0, 0.0), many[0])
    table2, shape2 = slot_rows.redraw(POSITIONS, eleven, True, page.slot_keys("symbol"))
    assert shape2 == [True, 20]
    assert page_of(table2).slot_keys("symbol") == [f"S{i:02d}" for i in range(10)] + ["NEW"] + [None] * 9


def test_a_viewer_table_has_no_close_column_and_an_empty_table_shows_its_note() -> None:
    table, shape = slot_rows.redraw(POSITIONS, rows(AAA), False, [])
    assert shape == [False, 10]
    assert not [i for i in component_ids(table) if isinstance(i, dict) and i.get("type") == CLOSE_TYPE]
    empty, _ = slot_rows.redraw(POSITIONS, {}, True, [])
    note = [n for n in empty.children if getattr(n, "id", None) == {"type": "trading-position-empty",
                                                                      "table": "trading-position"}]
    assert note[0].children == "No positions." and note[0].hidden is False


def test_a_slot_tells_the_close_callback_which_symbol_it_showed() -> None:
    states = [{"id": POSITIONS.cell_id(0, "symbol"), "property": "children", "value": ""},
              {"id": POSITIONS.cell_id(1, "symbol"), "property": "children", "value": "BBB"}]
    assert slot_rows.slot_key(states, 1) == "BBB"
    assert slot_rows.slot_key(states, 0) is None and slot_rows.slot_key(states, 5) is None
    assert slot_rows.slot_key(states, "1") is None and slot_rows.slot_key("junk", 1) is None


def test_an_unknown_mark_shows_a_dash_and_the_symbol_links_to_its_chart() -> None:
    assert position_cells(position("AAA", 10, 100.0, None, None))["market_price"] == ("—", "")
    table, _ = slot_rows.redraw(POSITIONS, rows(position("BRK.B", 3, 10.0, 11.0, 3.0)), True, [])
    links = [n for n in nodes(table) if getattr(n, "id", None) == POSITIONS.cell_id(0, "symbol")]
    assert links[0].href == "/performance?symbol=BRK.B" and links[0].children == "BRK.B"


# ---- the open-orders card --------------------------------------------------------------------------------
def order(order_id: int, symbol: str, status: str = "new", filled: float = 0, avg: float | None = None,
          qty: float = 10, limit: float | None = 95.0) -> dict[str, Any]:
    return {"id": order_id, "symbol": symbol, "side": "buy", "qty": qty, "limit_price": limit, "status": status,
            "filled_qty": filled, "filled_avg_price": avg, "origin": "manual", "created_at": None}


def test_an_order_fills_in_place_and_a_cancelled_one_empties_its_slot() -> None:
    a, b = order(7, "AAA"), order(9, "BBB", qty=1500, limit=None)
    table, shape = slot_rows.redraw(ORDERS, {"9": order_cells(b), "7": order_cells(a)}, True, [])
    page = page_of(table)
    assert page.slot_keys("id") == ["9", "7"] + [None] * 8
    assert [i["slot"] for i in component_ids(table) if isinstance(i, dict) and i["type"] == CANCEL_TYPE] == list(range(10))
    filled = order(9, "BBB", "partially_filled", 700, 101.25, qty=1500, limit=None)
    texts, _c, hidden, _s = slot_rows.cell_updates(ORDERS, {"9": order_cells(filled), "7": order_cells(a)}, page)
    changed = {(c["slot"], c["field"]): t for c, t in zip(page.cell_ids, texts, strict=True) if t is not no_update}
    assert changed == {(0, "status"): "partially_filled", (0, "filled_qty"): "700", (0, "filled_avg_price"): "$101.25"}
    texts, _c, hidden, slots = slot_rows.cell_updates(ORDERS, {"7": order_cells(a)}, page)
    assert slots[:2] == [None, "7"] and hidden[:2] == [True, no_update]
    assert ORDER_CELL == "trading-order-cell" and CANCEL_TYPE == "trading-cancel-order"



# ---- at most MAX_SLOTS rows: the rest are counted in the note ----------------------------------------------------
def orders_of(n: int) -> dict[str, Any]:
    """n open orders, newest first (ids n..1), as the page's query gives them."""
    return {str(i): order_cells(order(i, f"S{i:03d}")) for i in range(n, 0, -1)}


def note_of(table: Any, spec: Any) -> Any:
    return [n for n in nodes(table) if getattr(n, "id", None) == spec.empty_id()][0]


def test_a_hundred_open_orders_draw_forty_slots_and_the_note_counts_the_sixty_left_out() -> None:
    # 100 orders drew 100 slots (1,100 pattern-matching cells) and froze the Trading page in Chromium for minutes.
    all_rows = orders_of(100)
    table, shape = slot_rows.redraw(ORDERS, slot_rows.first_rows(all_rows), True, [], len(all_rows))
    assert shape == [True, 40]
    page = page_of(table)
    assert page.slot_keys("id") == [str(i) for i in range(100, 60, -1)]  # the 40 newest, in order
    note = note_of(table, ORDERS)
    assert note.hidden is False
    assert note.children == "40 of 100 open orders shown, newest first; the kill switch cancels every one of them."


def _respond(spec: Any, all_rows: dict[str, Any], page: slot_rows.Page, note_hidden: bool, note: str) -> tuple[Any, ...]:
    """slot_rows.respond as the refresh callback runs it, with the outputs Dash would list for the drawn page."""
    from dash._callback_context import context_value
    from dash._utils import AttributeDict

    outputs = [{"id": "section"}, {"id": "shape"}, [{"id": i} for i in page.cell_ids], [{"id": i} for i in page.cell_ids],
               [{"id": i} for i in page.row_ids], [{"id": spec.empty_id()}], [{"id": spec.empty_id()}]]
    token = context_value.set(AttributeDict(outputs_list=outputs))
    try:
        return slot_rows.respond(spec, all_rows, True, [True, len(page.row_ids)], page.texts, page.classes,
                                 page.hidden, [note_hidden], [note])
    finally:
        context_value.reset(token)


def test_the_note_follows_the_count_and_hides_when_every_row_fits_again() -> None:
    full = orders_of(100)
    table, _ = slot_rows.redraw(ORDERS, slot_rows.first_rows(full), True, [], len(full))
    page = page_of(table)
    shown_note = "40 of 100 open orders shown, newest first; the kill switch cancels every one of them."
    out = _respond(ORDERS, orders_of(90), page, False, shown_note)
    assert out[0] is no_update and out[1] is no_update  # never redrawn past 40 slots
    # orders 100..91 went (their 10 slots empty); 60..51 wait one refresh for those slots (module rule): 30 shown
    assert out[-1] == ["30 of 90 open orders shown, newest first; the kill switch cancels every one of them."]
    assert out[5] == [no_update]  # still shown
    # 30 other orders: this refresh empties the 40 slots (the new rows wait one refresh), the next fills 30 of them;
    # then every row fits: the note hides and its text is the empty note again
    out = _respond(ORDERS, orders_of(30), page, False, shown_note)
    assert out[-1] == ["0 of 30 open orders shown, newest first; the kill switch cancels every one of them."]
    page = shown_after(page, out[2], out[3], out[4])
    out = _respond(ORDERS, orders_of(30), page, False, "0 of 30")
    assert out[-1] == ["No open orders."] and out[5] == [True]
    assert page_of_keys(shown_after(page, out[2], out[3], out[4])) == [str(i) for i in range(30, 0, -1)] + [None] * 10


def page_of_keys(page: slot_rows.Page) -> list[str | None]:
    return page.slot_keys("id")
