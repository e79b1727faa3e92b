"""Which table row a pending edit means, and adding/deleting rows, as pending edits of the Parameters page.

A pending edit must follow its row when another user's version reorders, inserts or deletes rows, so a row is
named by a token, never by its position: "=<key>" (the value of the section's key_field in the origin, e.g.
"=LONG_AGGRESSIVE"; "|" and "%" percent-escaped), "+<n>" (the n-th row added by these edits), or, for a row
without a unique key, "#<index>.<digest of the origin table>" (valid only while the table is unchanged).
Cell edits are keyed "Sheet|section|<token>|field". A table whose rows changed has one structure edit keyed
"Sheet|section" (two parts) holding {"deleted": [tokens], "added": [new rows' raw values]}; the table is the
origin's rows minus the deleted ones, then the added ones. `resolve` maps every edit onto the current origin and
says which ones no longer fit (the old row-number keys, a row that is gone); Validation runs on the result.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from engine.params.schema import Schema, SectionSpec


def rows_key(sheet: str, section: str) -> str:
    return f"{sheet}|{section}"


def is_rows_key(key: str) -> bool:
    return key.count("|") == 1


def _enc(text: str) -> str:
    return text.replace("%", "%25").replace("|", "%7C")


def _dec(text: str) -> str:
    return text.replace("%7C", "|").replace("%25", "%")


def origin_tokens(spec: SectionSpec, rows: list[dict[str, Any]]) -> list[str]:
    """The token of each origin row: its key value when unique and not blank, else its index pinned to the table."""
    texts = ["" if spec.key_field is None or r.get(spec.key_field) in (None, "") else str(r[spec.key_field]).strip()
             for r in rows]
    counts, digest = Counter(texts), ""
    out = []
    for i, text in enumerate(texts):
        if text and counts[text] == 1:
            out.append("=" + _enc(text))
            continue
        digest = digest or hashlib.sha1(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()[:10]
        out.append(f"#{i}.{digest}")
    return out


def row_label(token: str) -> str:
    """How the page names a row: its key ("LONG_AGGRESSIVE"), "new row 2", or "row 4" (no key)."""
    if token.startswith("="):
        return _dec(token[1:])
    if token.startswith("+") and token[1:].isdigit():
        return f"new row {int(token[1:]) + 1}"
    return f"row {int(token[1:].split('.')[0]) + 1}" if token[1:].split(".")[0].isdigit() else token[:40]


def row_name(schema: Schema, key: str) -> str:
    """The row of a cell edit key as the pending panel names it: row_label, with the key column's header before a
    bare number ("RuleID 6", never a "6" read as a row number)."""
    sheet, section, token, _field = key.split("|")
    spec, label = schema.sheet(sheet).section(section), row_label(token)
    if token.startswith("=") and label.lstrip("-").replace(".", "", 1).isdigit() and spec.key_field:
        return f"{spec.field(spec.key_field).header} {label}"
    return label


def _layout(value: Any) -> tuple[list[str], list[dict[str, Any]]] | None:
    """(deleted tokens, added rows) of a structure edit, or None when it is not one (e.g. the old list form)."""
    if not isinstance(value, dict) or set(value) - {"deleted", "added"}:
        return None
    deleted, added = value.get("deleted") or [], value.get("added") or []
    if not (isinstance(deleted, list) and all(isinstance(t, str) for t in deleted) and isinstance(added, list)
            and all(isinstance(r, dict) for r in added)):
        return None
    return deleted, added


@dataclass
class Resolved:
    """Edits mapped onto an origin: the table rows they make, where each cell edit lands, what no longer fits."""

    sheets: dict[str, Any]  # the origin with every table's row changes (changed sections are new lists)
    tokens: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (sheet, section) -> token per row
    cells: dict[str, tuple[str, str, int, str]] = field(default_factory=dict)  # cell edit -> sheet, section, row, field
    dropped: dict[str, str] = field(default_factory=dict)  # edit key -> why it no longer fits

    def section_tokens(self, schema: Schema, sheet: str, section: str) -> list[str]:
        if (sheet, section) not in self.tokens:
            self.tokens[sheet, section] = origin_tokens(schema.sheet(sheet).section(section),
                                                        self.sheets[sheet][section])
        return self.tokens[sheet, section]


def _where(schema: Schema, sheet: str, section: str) -> str:
    spec = schema.sheet(sheet).section(section)
    return sheet if section == "main" or not spec.title else f"{sheet} ({spec.title})"


def resolve(schema: Schema, origin: dict[str, Any], edits: dict[str, Any]) -> Resolved:
    """Every edit placed on `origin` (not mutated); an edit that no longer fits is listed in `dropped`, not applied."""
    out = Resolved(origin)
    tables = {}
    for key, value in edits.items():
        if not isinstance(key, str) or not is_rows_key(key):
            continue
        sheet, section = key.split("|")
        layout = _layout(value)
        rows = origin.get(sheet, {}).get(section) if sheet in schema.by_name else None
        if layout is None or not isinstance(rows, list):
            out.dropped[key] = f"{key[:80]}: row changes kept in an older form of this page; add or delete them again"
            continue
        tokens = origin_tokens(schema.sheet(sheet).section(section), rows)
        gone = [t for t in layout[0] if t not in tokens]
        if gone:
            out.dropped[key] = (f"{_where(schema, sheet, section)}: deleting {', '.join(map(row_label, gone))}: that "
                                "row is no longer in the table")
        keep = [i for i, t in enumerate(tokens) if t not in layout[0]]
        tables[sheet, section] = ([dict(rows[i]) for i in keep] + [dict(r) for r in layout[1]],
                                  [tokens[i] for i in keep] + [f"+{n}" for n in range(len(layout[1]))])
    if tables:
        out.sheets = {name: dict(sheet) for name, sheet in origin.items()}
        for (sheet, section), (rows, tokens) in tables.items():
            out.sheets[sheet][section], out.tokens[sheet, section] = rows, tokens
    for key in edits:
        parts = key.split("|") if isinstance(key, str) else []
        if len(parts) != 4:
            continue
        sheet, section, token, name = parts
        try:
            tokens = out.section_tokens(schema, sheet, section)
        except (KeyError, AttributeError, TypeError):
            continue  # names no table: candidate_sheets refuses it by name
        if token.isdigit():
            out.dropped[key] = f"{key[:80]}: an edit kept by row number by an older form of this page; edit it again"
        elif token not in tokens:
            out.dropped[key] = (f"{_where(schema, sheet, section)}, {row_label(token)}: that row is no longer in the "
                                "table" + (" (or the table changed)" if token.startswith("#") else ""))
        else:
            out.cells[key] = (sheet, section, tokens.index(token), name)
    return out


def live_edits(schema: Schema, origin: dict[str, Any], edits: Any) -> tuple[dict[str, Any], list[str]]:
    """The pending edits that still fit `origin`, and why each other one was dropped: its row is gone (another
    version deleted it) or it was stored in the old row-number form. The page shows the reasons."""
    if not isinstance(edits, dict):
        return {}, []
    try:
        dropped = resolve(schema, origin, edits).dropped
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return {}, ["the pending edits do not fit this workbook"]
    return {k: v for k, v in edits.items() if k not in dropped}, list(dropped.values())


def dropped_message(reasons: list[str]) -> str:
    """'1 pending edit dropped: TradingRisk (Bias Size Multipliers), LONG_AGGRESSIVE: that row is no longer ...'."""
    head = f"{len(reasons)} pending edit{'' if len(reasons) == 1 else 's'} dropped: "
    more = f"; and {len(reasons) - 10} more" if len(reasons) > 10 else ""
    return head + "; ".join(reasons[:10]) + more + "."


def positional(schema: Schema, origin: dict[str, Any], edits: dict[str, Any]) -> dict[str, Any]:
    """Stored edits with each table cell keyed by its row's position in `origin` ("Sheet|section|3|field"), for a
    reader that writes edits onto a version by position (the Regime what-if). Left out: row changes, cell edits of
    a table whose rows changed (their positions are not the origin's), and edits that no longer fit."""
    res = resolve(schema, origin, edits)
    reshaped = {tuple(k.split("|")) for k in edits if isinstance(k, str) and is_rows_key(k)}
    out: dict[str, Any] = {}
    for key, value in edits.items():
        if key in res.cells and res.cells[key][:2] not in reshaped:
            sheet, section, row, name = res.cells[key]
            out[f"{sheet}|{section}|{row}|{name}"] = value
        elif isinstance(key, str) and key.count("|") == 2:
            out[key] = value
    return out


def structured(schema: Schema, origin: dict[str, Any], edits: dict[str, Any]) -> dict[str, Any]:
    """`origin` with every table's row changes applied (changed sections are new lists; origin is not mutated)."""
    return resolve(schema, origin, edits).sheets


def add_row(schema: Schema, origin: dict[str, Any], edits: dict[str, Any], sheet: str, section: str) -> dict[str, Any]:
    """A blank row at the end of the table; its empty required cells show as errors until filled."""
    fields = schema.sheet(sheet).section(section).fields
    deleted, added = _layout(edits.get(rows_key(sheet, section))) or ([], [])
    out = dict(edits)
    out[rows_key(sheet, section)] = {"deleted": list(deleted),
                                     "added": [*added, dict.fromkeys((f.name for f in fields), "")]}
    return out


def delete_row(schema: Schema, origin: dict[str, Any], edits: dict[str, Any], sheet: str, section: str,
               row: int) -> dict[str, Any]:
    """Row `row` (0-based, of the table as edited) removed, with its cell edits; later added rows' edits move up."""
    tokens = resolve(schema, origin, edits).section_tokens(schema, sheet, section)
    if not 0 <= row < len(tokens):
        return edits
    deleted, added = _layout(edits.get(rows_key(sheet, section))) or ([], [])
    deleted, added, gone = list(deleted), list(added), tokens[row]
    if gone.startswith("+"):
        del added[int(gone[1:])]
    else:
        deleted.append(gone)
    prefix = f"{sheet}|{section}|"
    out: dict[str, Any] = {}
    for key, value in edits.items():
        token, _, name = key[len(prefix):].partition("|") if key.startswith(prefix) else ("", "", "")
        if token == gone:
            continue  # the deleted row's own cell edits go with it
        if gone.startswith("+") and token.startswith("+") and token[1:].isdigit() and int(token[1:]) > int(gone[1:]):
            out[f"{prefix}+{int(token[1:]) - 1}|{name}"] = value
        else:
            out[key] = value
    out.pop(rows_key(sheet, section), None)
    if deleted or added:  # back to the origin's rows: no structure edit
        out[rows_key(sheet, section)] = {"deleted": deleted, "added": added}
    return out


def describe(schema: Schema, origin: dict[str, Any], key: str, layout: Any) -> dict[str, Any]:
    """The pending-changes line for one table's row changes: which origin rows go, how many are added."""
    sheet, section = key.split("|")
    spec = schema.sheet(sheet).section(section)
    old_rows = origin[sheet][section]
    deleted, added = _layout(layout) or ([], [])
    tokens = origin_tokens(spec, old_rows)
    gone = [row_label(t) for t in tokens if t in deleted]
    what = [f"deleted {', '.join(gone)}"] if gone else []
    what += [f"{len(added)} row{'s' if len(added) != 1 else ''} added"] if added else []
    new_count = len(old_rows) - len(gone) + len(added)
    return {"sheet": sheet, "cell": "", "parameter": f"{spec.title or 'table'}: rows", "old": f"{len(old_rows)} rows",
            "new": f"{new_count} rows ({'; '.join(what)})", "error": None, "key": key}
