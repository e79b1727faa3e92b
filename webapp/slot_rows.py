"""Refreshing a slot table (components/slot_table.py): which row each slot shows, and only the values that moved.

A row keeps its slot while it stays; a row that goes empties its slot (hidden, cells cleared); a new row takes a
slot that was already empty *before* this refresh, never one emptied by it, so no slot ever shows one row and then,
in the next frame, another: a click on a button whose row has just gone finds an empty slot (and asks nothing),
never a different row. A new row with no such slot waits one refresh. Only when the rows outnumber the slots (or
the button column comes or goes) is the table drawn again, with more slots and every row kept in its slot.

`respond` is the body of a slot table's refresh callback; `slot_key` tells a button's callback which row its slot
showed when it was clicked, read from the page's own key cells (what the trader saw).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dash import ctx as dash_ctx
from dash import no_update
from dash.exceptions import PreventUpdate

from components.slot_table import MAX_SLOTS, Cells, SlotSpec, capacity_for, draw, note_for

EMPTY = ("", "")


@dataclass(frozen=True)
class Page:
    """What one slot table on the page shows, from its refresh callback's states (ids from ctx.outputs_list)."""

    cell_ids: list[dict[str, Any]]
    texts: list[Any]
    classes: list[Any]
    row_ids: list[dict[str, Any]]
    hidden: list[Any]

    def slot_keys(self, key_field: str) -> list[str | None]:
        """The row key each slot shows (None: empty or hidden); anything malformed counts as empty."""
        keys: list[str | None] = [None] * len(self.row_ids)
        shown = {r.get("slot"): bool(h) for r, h in zip(self.row_ids, self.hidden, strict=True)}
        for cell, text in zip(self.cell_ids, self.texts, strict=True):
            slot = cell.get("slot")
            if (cell.get("field") == key_field and isinstance(slot, int) and 0 <= slot < len(keys)
                    and isinstance(text, str) and text and shown.get(slot) is False):
                keys[slot] = text
        return keys


def assign(shown: Sequence[str | None], wanted: Sequence[str], reuse_emptied: bool = False) -> list[str | None]:
    """The key of each slot after this refresh: kept rows stay put (a key shown twice keeps its first slot), gone
    rows leave their slot empty, new rows fill slots that were empty before (or, with reuse_emptied, on a redraw,
    any empty slot), in `wanted` order; the rest wait for a later refresh."""
    want = set(wanted)
    slots: list[str | None] = []
    placed: set[str] = set()
    for key in shown:
        keep = key is not None and key in want and key not in placed
        slots.append(key if keep else None)
        if keep:
            placed.add(str(key))
    free = [i for i, key in enumerate(slots if reuse_emptied else shown) if key is None]
    for i, key in zip(free, [k for k in wanted if k not in placed], strict=False):
        slots[i] = key
    return slots


def redraw(spec: SlotSpec, rows: Mapping[str, Cells], with_button: bool, shown: Sequence[str | None],
           total: int | None = None) -> tuple[Any, list[Any]]:
    """(table, shape) with enough slots for every row up to MAX_SLOTS (never fewer than the page has), rows kept in
    their slots; `total` counts the rows left out of `rows` too (the table's note says how many)."""
    capacity = min(MAX_SLOTS, max(capacity_for(len(rows)), len(shown)))
    slots = assign([*shown[:capacity], *[None] * (capacity - len(shown))], list(rows), reuse_emptied=True)
    table = draw(spec, [rows[k] if k is not None else None for k in slots], with_button,
                 len(rows) if total is None else total)
    return table, [bool(with_button), capacity]


def first_rows(rows: Mapping[str, Cells]) -> dict[str, Cells]:
    """The rows a table draws: the first MAX_SLOTS, in the order given (the rest are counted in its note)."""
    return dict(list(rows.items())[:MAX_SLOTS])


def cell_updates(spec: SlotSpec, rows: Mapping[str, Cells], page: Page) -> tuple[list[Any], list[Any], list[Any], list[str | None]]:
    """(texts, classes, hidden, slots): the new value of each cell and row (no_update where it already shows it)."""
    slots = assign(page.slot_keys(spec.key_field), list(rows))
    texts, classes = [], []
    for cell, text, cls in zip(page.cell_ids, page.texts, page.classes, strict=True):
        slot = cell.get("slot")
        key = slots[slot] if isinstance(slot, int) and 0 <= slot < len(slots) else None
        new_text, new_cls = rows[key].get(str(cell.get("field")), EMPTY) if key is not None else EMPTY
        texts.append(new_text if new_text != (text or "") else no_update)
        classes.append(new_cls if new_cls != (cls or "") else no_update)
    hidden = []
    for row, was in zip(page.row_ids, page.hidden, strict=True):
        slot = row.get("slot")
        empty = not (isinstance(slot, int) and 0 <= slot < len(slots) and slots[slot] is not None)
        hidden.append(empty if empty != bool(was) else no_update)
    return texts, classes, hidden, slots


def respond(spec: SlotSpec, all_rows: Mapping[str, Cells], with_button: bool, shape: Any, texts: Any, classes: Any,
            hidden: Any, empty_hidden: Any, empty_texts: Any) -> tuple[Any, ...]:
    """A slot table's refresh callback: outputs (table, shape, cell texts, cell classes, rows hidden, note hidden[,
    key cell hrefs when the spec links its keys], note text), states in the same order. The first MAX_SLOTS rows
    are drawn; the note says how many were left out. PreventUpdate when nothing moved, or the request is
    malformed (a wildcard output takes a list, never a bare no_update)."""
    outs = dash_ctx.outputs_list
    cell_ids = [o["id"] for o in outs[2]]
    row_ids = [o["id"] for o in outs[4]]
    if not (isinstance(texts, list) and isinstance(classes, list) and isinstance(hidden, list)
            and isinstance(empty_hidden, list) and isinstance(empty_texts, list)
            and len(texts) == len(classes) == len(cell_ids) and len(hidden) == len(row_ids)
            and len(empty_texts) == len(empty_hidden)):
        raise PreventUpdate
    rows = first_rows(all_rows)
    page = Page(cell_ids, texts, classes, row_ids, hidden)
    n_links = len(outs[6]) if spec.link is not None else 0
    keep = ([no_update] * len(cell_ids), [no_update] * len(cell_ids), [no_update] * len(row_ids),
            [no_update] * len(empty_hidden), *([[no_update] * n_links] if spec.link is not None else []),
            [no_update] * len(empty_texts))
    shown = page.slot_keys(spec.key_field)
    if shape != [bool(with_button), len(row_ids)] or len(rows) > len(row_ids):
        table, new_shape = redraw(spec, rows, with_button, shown, len(all_rows))
        return (table, new_shape, *keep)
    new_texts, new_classes, new_hidden, slots = cell_updates(spec, rows, page)
    filled = sum(k is not None for k in slots)
    note = note_for(spec, filled, len(all_rows))
    out: list[Any] = [no_update, no_update, new_texts, new_classes, new_hidden,
                      [(hide if hide != bool(h) else no_update)
                       for h, hide in ((h, bool(filled) and note == spec.empty) for h in empty_hidden)]]
    if spec.link is not None:
        out.append(_hrefs(spec, [o["id"] for o in outs[6]], slots, shown))
    out.append([note if note != t else no_update for t in empty_texts])
    if all(v is no_update for part in out[2:] for v in part):
        raise PreventUpdate
    return tuple(out)


def _hrefs(spec: SlotSpec, ids: list[dict[str, Any]], slots: list[str | None], shown: list[str | None]) -> list[Any]:
    """The key cells' links: a new href where the slot's row changed."""
    assert spec.link is not None
    out: list[Any] = []
    for ident in ids:
        slot = ident.get("slot")
        if not (isinstance(slot, int) and 0 <= slot < min(len(slots), len(shown))) or slots[slot] == shown[slot]:
            out.append(no_update)
            continue
        out.append(spec.link(slots[slot] or ""))
    return out


def slot_key(states: Any, slot: Any) -> str | None:
    """The key a slot's key cell showed (ctx.states_list entry of a SlotSpec.keys() State), None if empty or unknown."""
    if not isinstance(states, list) or not isinstance(slot, int):
        return None
    for entry in states:
        ident = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(ident, dict) and ident.get("slot") == slot:
            value = entry.get("value")
            return value if isinstance(value, str) and value else None
    return None
