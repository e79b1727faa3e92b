"""The Trading page's positions card: a slot table (components/slot_table.py), so a click on a Close button is
never lost to a redraw.

The table is drawn once per page (again only when the positions outnumber its slots, or the Close column comes or
goes); each refresh then writes the positions into their slots (webapp/slot_rows.py): a position keeps its row while
it is held, a closed one empties its row, a new one fills a row that was already empty. Marks, P&L, quantity and
entry price are written into the cells in place.

Why: Dash draws every descendant again when a component's children are replaced, so a redraw replaced the Close
button a trader was pressing (the press landed on a removed node), and re-created Close buttons made Dash run the
Close callback again with no click, superseding a Close request still in flight.

pages/trading.py places shape_store() beside the card and calls callbacks.register() for each new app; its Close
callback reads which position a slot showed with `clicked_symbol`.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from dash import Input, Output, State, dcc

from components.ids import trading as ids
from components.slot_table import Cells
from components.trading_tables import POSITIONS, position_cells
from engine.auth import principal
from engine.auth.roles import Role, at_least
from webapp import slot_rows, trading_queries
from webapp.auth.access import requires
from webapp.wiring import Callbacks

callbacks = Callbacks()


def can_close() -> bool:
    """Whether the logged-in user's role shows the Close buttons (the server checks again on use)."""
    return at_least(principal.current().role, Role.TRADER)


def shape_store() -> dcc.Store:
    return dcc.Store(id=ids.POSITIONS_SHAPE, data=None)


def quantity(value: Any) -> str:
    """A share quantity with the decimals it has: a fractional position (Alpaca keeps them) of 0.4 reads 0.4, not
    "0" as a whole-share format rounds it; thousands separated, PostgreSQL's trailing zeros dropped (100.0 reads 100).
    A dash when unknown."""
    try:
        number = Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        return "—"
    return f"{number.normalize() + 0:,f}"  # + 0: 1E+2 back to 100, -0 to 0


def current_rows() -> dict[str, Cells]:
    """The positions' cells by symbol, from the Trading page's shared section read (one store read per cache period),
    with the true quantity (quantity())."""
    data, _prints = trading_queries.sections()
    return {str(p["symbol"]): {**position_cells(p), "qty": (quantity(p["qty"]), "")} for p in data["positions"]}


def clicked_symbol(key_states: Any, trigger: Any) -> str | None:
    """The symbol a clicked Close button's slot showed (None: an empty slot, or not a Close button)."""
    slot = trigger.get("slot") if isinstance(trigger, dict) else None
    return slot_rows.slot_key(key_states, slot)


@callbacks(Output(ids.section("positions"), "children"), Output(ids.POSITIONS_SHAPE, "data"),
           Output(POSITIONS.cells(), "children"), Output(POSITIONS.cells(), "className"),
           Output(POSITIONS.rows(), "hidden"), Output(POSITIONS.empty_note(), "hidden"),
           Output(POSITIONS.keys(), "href"), Output(POSITIONS.empty_note(), "children"),
           Input(ids.INTERVAL, "n_intervals"), State(ids.POSITIONS_SHAPE, "data"),
           State(POSITIONS.cells(), "children"), State(POSITIONS.cells(), "className"),
           State(POSITIONS.rows(), "hidden"), State(POSITIONS.empty_note(), "hidden"),
           State(POSITIONS.empty_note(), "children"))
@requires(Role.VIEWER)
def refresh_positions(_n: int | None, shape: Any, texts: Any, classes: Any, hidden: Any, empty_hidden: Any,
                      empty_texts: Any):
    return slot_rows.respond(POSITIONS, current_rows(), can_close(), shape, texts, classes, hidden, empty_hidden,
                             empty_texts)
