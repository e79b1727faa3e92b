"""A table of fixed row *slots*: rows that are drawn once and then only filled, emptied (hidden) and refilled.

Why: in Dash 4.4.1 replacing a component's ``children`` mounts every descendant again (the renderer gives each new
child a fresh React key, whatever its id), so a table drawn again when a row comes or goes replaces every button
under the trader's pointer: a click landing in that instant hits a removed node and is lost. A slot table is drawn
once per page (again only when it needs more slots, or its button column comes or goes); afterwards a refresh
writes each slot's cells (text, className), hides a slot that has emptied and shows one that has filled
(webapp/slot_rows.py). Every row's DOM nodes, its button included, stay the same for the page's life.

Ids (pattern-matching, ``name`` being e.g. "trading-position"):
- a cell: ``{"type": f"{name}-cell", "slot": i, "field": f}``; the first field is the row's key (a symbol, an
  order id), so the page itself says which row a slot shows when its button is clicked;
- a row: ``{"type": f"{name}-row", "slot": i}`` (its ``hidden`` says the slot is empty);
- the row's button: ``{"type": button_type, "slot": i}``;
- the note shown when no slot is filled: ``{"type": f"{name}-empty", "table": name}``.
No data access: rows come in as {field: (text, className)}.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, dcc, html

Cells = dict[str, tuple[str, str]]  # a row's cells: {field: (text, className)}
SLOT_BLOCK = 10  # slots are added this many at a time
# At most this many rows are drawn. Dash 4.4.1's renderer works out every refresh over all the pattern-matching
# components of the page, at a cost that grows faster than their number: with 100 open orders (1,100 cells) one
# refresh kept Chromium's main thread busy for over 13 minutes and the Trading page, kill switch banner included,
# stopped answering. 40 slots (440 cells) refresh in well under a second. The rest are counted in the table's note.
MAX_SLOTS = 40


@dataclass(frozen=True)
class SlotSpec:
    """One slot table's columns, ids and button."""

    name: str
    fields: tuple[str, ...]  # the cells in column order; fields[0] is the row key
    header: tuple[str, ...]  # a title per field
    empty: str  # the note when no slot is filled
    more: str  # the note when rows are left out: formatted with shown= and total=
    button: str = ""  # the per-row button's label ("" for none)
    button_type: str = ""  # its pattern-matching id type
    link: Callable[[str], str] | None = None  # the key cell is a link to link(key)

    @property
    def key_field(self) -> str:
        return self.fields[0]

    def cell_id(self, slot: int, field: str) -> dict[str, Any]:
        return {"type": f"{self.name}-cell", "slot": slot, "field": field}

    def row_id(self, slot: int) -> dict[str, Any]:
        return {"type": f"{self.name}-row", "slot": slot}

    def button_id(self, slot: int) -> dict[str, Any]:
        return {"type": self.button_type, "slot": slot}

    def cells(self) -> dict[str, Any]:
        """Every cell of every slot (the refresh's wildcard output)."""
        return {"type": f"{self.name}-cell", "slot": ALL, "field": ALL}

    def keys(self) -> dict[str, Any]:
        """Every slot's key cell: what a button's callback reads to learn which row its slot shows."""
        return {"type": f"{self.name}-cell", "slot": ALL, "field": self.key_field}

    def rows(self) -> dict[str, Any]:
        return {"type": f"{self.name}-row", "slot": ALL}

    def buttons(self) -> dict[str, Any]:
        return {"type": self.button_type, "slot": ALL}

    def empty_id(self) -> dict[str, Any]:
        return {"type": f"{self.name}-empty", "table": self.name}

    def empty_note(self) -> dict[str, Any]:
        """The empty note (a wildcard, so a refresh before the table is drawn matches nothing)."""
        return {"type": f"{self.name}-empty", "table": ALL}


def capacity_for(n_rows: int) -> int:
    """Slots for n rows: whole blocks of SLOT_BLOCK, at least one block, at most MAX_SLOTS."""
    return min(MAX_SLOTS, max(1, -(-n_rows // SLOT_BLOCK)) * SLOT_BLOCK)


def note_for(spec: SlotSpec, shown: int, total: int) -> str:
    """The table's note: the empty note, or how many rows are left out."""
    return spec.more.format(shown=shown, total=total) if total > shown else spec.empty


def draw(spec: SlotSpec, slots: Sequence[Cells | None], with_button: bool, total: int | None = None) -> html.Div:
    """The table with one row per slot (None: an empty, hidden slot) and its note: shown when all are empty, or
    when `total` rows are more than the filled slots (how many are left out)."""
    body = [html.Tr(_row(spec, i, cells, with_button), id=spec.row_id(i), hidden=cells is None)
            for i, cells in enumerate(slots)]
    header = [html.Th(h) for h in spec.header] + ([html.Th("")] if with_button else [])
    filled = any(c is not None for c in slots)
    shown = sum(c is not None for c in slots)
    total = shown if total is None else total
    return html.Div([
        dbc.Table([html.Thead(html.Tr(header)), html.Tbody(body)], size="sm", hover=True, className="mb-0",
                  responsive=True),  # not striped: hidden rows would break the stripes' alternation
        html.Div(note_for(spec, shown, total), id=spec.empty_id(), hidden=filled and total <= shown,
                 className="text-muted small"),
    ])


def _row(spec: SlotSpec, slot: int, cells: Cells | None, with_button: bool) -> list[html.Td]:
    values = cells or {}
    out = []
    for field in spec.fields:
        text, cls = values.get(field, ("", ""))
        if field == spec.key_field and spec.link is not None:
            out.append(html.Td(dcc.Link(text, href=spec.link(text), id=spec.cell_id(slot, field), className=cls,
                                        title="price, fills, P&L")))
        else:
            out.append(html.Td(html.Span(text, id=spec.cell_id(slot, field), className=cls)))
    if with_button:
        out.append(html.Td(dbc.Button(spec.button, id=spec.button_id(slot), size="sm", color="outline-danger",
                                      n_clicks=0, className="py-0")))
    return out
