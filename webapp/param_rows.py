"""Adding and deleting rows of a parameter table, as pending edits of the Parameters page.

A table whose rows changed has one structure edit, keyed "Sheet|section" (two parts, unlike cell keys),
whose value lists the new table's rows in order: an int is a row of the origin (by index), a dict is a
new row's raw values. Cell edits ("Sheet|section|row|field") address rows of the new table, so deleting
a row drops that row's cell edits and renumbers the ones below it. Validation (row counts, unique keys,
regime references) runs on the result like on any other edit.
"""
from __future__ import annotations

from typing import Any

from engine.params.schema import Schema


def rows_key(sheet: str, section: str) -> str:
    return f"{sheet}|{section}"


def is_rows_key(key: str) -> bool:
    return key.count("|") == 1


def structured(origin: dict[str, Any], edits: dict[str, Any]) -> dict[str, Any]:
    """`origin` with every table's row changes applied (changed sections are new lists; origin is not mutated)."""
    changed = [k for k in edits if is_rows_key(k)]
    if not changed:
        return origin
    out = {name: dict(sheet) for name, sheet in origin.items()}
    for key in changed:
        sheet, section = key.split("|")
        old_rows = origin[sheet][section]
        out[sheet][section] = [dict(old_rows[src]) if isinstance(src, int) else dict(src) for src in edits[key]]
    return out


def _layout(origin: dict[str, Any], edits: dict[str, Any], sheet: str, section: str) -> list[Any]:
    return list(edits.get(rows_key(sheet, section)) or range(len(origin[sheet][section])))


def _with_layout(origin: dict[str, Any], edits: dict[str, Any], sheet: str, section: str,
                 layout: list[Any]) -> dict[str, Any]:
    out = dict(edits)
    if layout == list(range(len(origin[sheet][section]))):
        out.pop(rows_key(sheet, section), None)  # back to the origin's rows: no structure edit
    else:
        out[rows_key(sheet, section)] = layout
    return out


def add_row(schema: Schema, origin: dict[str, Any], edits: dict[str, Any], sheet: str, section: str) -> dict[str, Any]:
    """A blank row at the end of the table; its empty required cells show as errors until filled."""
    fields = schema.sheet(sheet).section(section).fields
    layout = _layout(origin, edits, sheet, section) + [dict.fromkeys((f.name for f in fields), "")]
    return _with_layout(origin, edits, sheet, section, layout)


def delete_row(origin: dict[str, Any], edits: dict[str, Any], sheet: str, section: str, row: int) -> dict[str, Any]:
    """Row `row` (0-based, of the table as edited) removed, with its cell edits; later rows' edits move up."""
    layout = _layout(origin, edits, sheet, section)
    if not 0 <= row < len(layout):
        return edits
    del layout[row]
    prefix = f"{sheet}|{section}|"
    out: dict[str, Any] = {}
    for key, value in edits.items():
        if not key.startswith(prefix) or key.count("|") != 3:
            out[key] = value
            continue
        r, field = key[len(prefix):].split("|")
        if int(r) < row:
            out[key] = value
        elif int(r) > row:
            out[f"{prefix}{int(r) - 1}|{field}"] = value
    return _with_layout(origin, out, sheet, section, layout)


def describe(schema: Schema, origin: dict[str, Any], key: str, layout: list[Any]) -> dict[str, Any]:
    """The pending-changes line for one table's row changes: which origin rows go, how many are added."""
    sheet, section = key.split("|")
    spec = schema.sheet(sheet).section(section)
    old_rows = origin[sheet][section]
    kept = {src for src in layout if isinstance(src, int)}
    name_field = spec.key_field or spec.fields[0].name
    gone = [str(old_rows[i].get(name_field) or f"row {i + 1}") for i in range(len(old_rows)) if i not in kept]
    added = sum(1 for src in layout if not isinstance(src, int))
    what = [f"deleted {', '.join(gone)}"] if gone else []
    what += [f"{added} row{'s' if added != 1 else ''} added"] if added else []
    return {"sheet": sheet, "cell": "", "parameter": f"{spec.title or 'table'}: rows", "old": f"{len(old_rows)} rows",
            "new": f"{len(layout)} rows ({'; '.join(what)})", "error": None, "key": key}
