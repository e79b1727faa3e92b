"""Callback helpers of the Parameters page: pending edits on top of a base version, their validation,
uploads, exports and version rows. Everything goes through engine.params (never raw SQL).

Why a module: the page keeps layout + callbacks; the logic here is plain functions of plain data
(the browser only holds edit keys and raw typed values), so unit tests call them directly.
Stored edits: `Sheet|section|field` (key/value), `Sheet|section|<row token>|field` (table cell, its row named by
its key so the edit follows it, e.g. `...|=LONG_AGGRESSIVE|size_multiplier`), `Sheet|section` (rows added/deleted;
webapp/param_rows.py). Editors, grids and messages address a cell by position (`Key`); merge_edit stores it by row.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from components.param_editor import cell_key, cell_text, kv_key
from engine.params import ParamIssue, ParamSet, load_schema
from engine.params.coerce import CoerceError, coerce, control_char, to_json_value
from engine.params.paramset import build_paramset, default_params
from engine.params.schema import FieldSpec, Schema
from engine.params.values import layout_locator
from engine.params.versions import active_params, get_version, list_versions
from webapp import param_rows
from webapp.param_uploads import UploadRefused, decode_upload, import_upload, too_large_message  # noqa: F401 (pv.*)

if TYPE_CHECKING:
    from engine.store.db import Store

FIELD_PATH = re.compile(r"^(?P<section>[A-Za-z0-9_]+)(?:\[(?P<row>\d+)\])?\.(?P<field>[A-Za-z0-9_]+)$")


@dataclass(frozen=True)
class Key:
    sheet: str
    section: str
    row: int | None
    field: str

    def __str__(self) -> str:
        if self.row is None:
            return kv_key(self.sheet, self.section, self.field)
        return cell_key(self.sheet, self.section, self.row, self.field)

    @classmethod
    def parse(cls, key: str) -> Key:
        p = key.split("|")
        if len(p) == 3:
            return cls(p[0], p[1], None, p[2])
        return cls(p[0], p[1], int(p[2]), p[3])


def field_spec(schema: Schema, k: Key) -> FieldSpec:
    return schema.sheet(k.sheet).section(k.section).field(k.field)


# --- versions ----------------------------------------------------------------------------------
def load_base(store: Store, version_id: int | None) -> ParamSet:
    """The version edits apply to (None: the active one, or the schema defaults on a fresh store)."""
    with store.read() as s:
        return get_version(s, version_id) if version_id is not None else active_params(s)


def active_ref(store: Store) -> dict[str, Any]:
    with store.read() as s:
        ps = active_params(s)
    return {"version_id": ps.version_id, "hash": ps.content_hash}


VERSIONS_LISTED = 200  # the versions list and its pickers: the newest this many (a longer <select> is unusable)


def version_rows(store: Store, limit: int = VERSIONS_LISTED) -> list[dict[str, Any]]:
    with store.read() as s:
        infos = list_versions(s, limit)
    return [{"id": v.id, "created_at": v.created_at.strftime("%Y-%m-%d %H:%M:%S"), "author": v.author,
             "source": v.source, "note": v.note, "parent_id": v.parent_id, "changes": v.changes,
             "active": "active" if v.is_active else "", "hash": v.content_hash[:12]} for v in infos]


# --- pending edits ----------------------------------------------------------------------------
def canonical_value(sheets: dict[str, Any], k: Key) -> Any:
    sec = sheets[k.sheet][k.section]
    if k.row is None:
        return sec.get(k.field)
    return sec[k.row].get(k.field) if k.row < len(sec) else None


@lru_cache(maxsize=8)
def _canon(ps: ParamSet) -> dict[str, Any]:
    """Canonical sheets of a version (shared: callers must not mutate it)."""
    return ps.to_canonical()["sheets"]


def same_value(f: FieldSpec, raw: Any, base: Any) -> bool:
    """True when `raw` (as typed) means the base value, so the edit is dropped."""
    try:
        return to_json_value(coerce(f, raw)) == base
    except CoerceError:
        return False


def origin_sheets(base: ParamSet, upload: dict[str, Any] | None) -> dict[str, Any]:
    """What edits are made on: the pending upload if there is one, else the base version (do not mutate)."""
    return upload["sheets"] if upload else _canon(base)


def merge_edit(schema: Schema, origin: dict[str, Any], edits: dict[str, Any], key: str, raw: Any) -> dict[str, Any]:
    """Edits with `key` set to `raw`, or removed when `raw` equals the origin value.

    The edit is checked first (check_edit): a refused one raises EditsRefused and `edits` stay as they were."""
    try:
        res = param_rows.resolve(schema, origin, edits)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        raise EditsRefused("the pending row changes do not fit this workbook; discard them and edit again") from None
    k = check_edit(schema, res.sheets, key, raw)
    stored = str(k) if k.row is None else \
        f"{k.sheet}|{k.section}|{res.section_tokens(schema, k.sheet, k.section)[k.row]}|{k.field}"
    if stored not in edits and len(edits) >= MAX_EDITS:
        raise _refuse(str(k.sheet), f"at most {MAX_EDITS} edits can be pending; apply or discard them first")
    out = dict(edits)
    if same_value(field_spec(schema, k), raw, canonical_value(res.sheets, k)):
        out.pop(stored, None)
    else:
        out[stored] = raw
    return out


MAX_EDITS = 5_000
MAX_EDIT_TEXT = 1_000


class EditsRefused(ValueError):
    """Pending edits that name no parameter, or carry a value no cell can hold; nothing is applied."""


def _value_problem(raw: Any) -> str | None:
    """Why `raw` is no plain cell value (None when it is one)."""
    if raw is None or isinstance(raw, bool | int):
        return None
    if isinstance(raw, float):
        return f"{raw} is not a number a cell can hold" if raw != raw or raw in (float("inf"), float("-inf")) else None
    if isinstance(raw, str):
        if len(raw) > MAX_EDIT_TEXT:
            return f"the text is longer than {MAX_EDIT_TEXT} characters"
        bad = control_char(raw.strip())  # as coerce() sees it; no .xlsx cell can hold one, so no export could
        return None if bad is None else f"the text holds the control character {bad}; delete it"
    kind = {"list": "list", "dict": "mapping"}.get(type(raw).__name__, type(raw).__name__)
    return f"a cell holds a number, a text or a yes/no, not a {kind}"


def _check_value(key: str, raw: Any) -> None:
    if (problem := _value_problem(raw)) is not None:
        raise EditsRefused(f"{key}: {problem}")


def _refuse(where: str, why: str) -> EditsRefused:
    return EditsRefused(f"Not taken: {where}: {why}. Your other pending edits are kept.")


def check_edit(schema: Schema, sheets: dict[str, Any], key: Any, raw: Any) -> Key:
    """One incoming edit checked as candidate_sheets checks stored ones, so a bad edit is refused when it arrives
    (EditsRefused naming the sheet, row and column in the page's words) instead of being stored and then blocking
    every later view and Apply. `sheets`: the origin with the pending row changes (param_rows.structured)."""
    parts = key.split("|") if isinstance(key, str) and len(key) <= 300 else []
    if len(parts) not in (3, 4):
        raise _refuse("this workbook", f"the edit {str(key)[:40]!r} names no parameter")
    if parts[0] not in schema.by_name:
        raise _refuse("this workbook", f"there is no sheet {parts[0][:40]!r}")
    sheet = schema.sheet(parts[0])
    sec = next((s for s in sheet.data_sections if s.key == parts[1]), None)
    if sec is None or sec.kind != ("kv" if len(parts) == 3 else "table"):
        raise _refuse(sheet.name, f"there is no {'table' if len(parts) == 4 else 'section'} {parts[1][:40]!r}")
    where = sheet.name if sec.key == "main" or not sec.title else f"{sheet.name} ({sec.title})"
    row = None
    if len(parts) == 4:
        rows, text = sheets.get(sheet.name, {}).get(sec.key) or [], parts[2]
        if not (text.isascii() and text.isdigit() and len(text) < 7):
            raise _refuse(where, f"{text[:12]!r} is not a row of the table")
        if int(text) >= len(rows):
            raise _refuse(where, f"there is no row {int(text) + 1} (the table has {count_of(len(rows), 'row')})")
        row = int(text)
        where = f"{where}, row {row + 1}"
    if parts[-1] not in sec.field_names:
        raise _refuse(where, f"there is no {'parameter' if row is None else 'column'} {parts[-1][:40]!r}")
    header = sec.field(parts[-1]).header
    where = f"{where}, {'parameter' if row is None else 'column'} '{header}'"
    if (problem := _value_problem(raw)) is not None:
        raise _refuse(where, problem)
    return Key(sheet.name, sec.key, row, parts[-1])


def grid_edit_key(grid: Any, event: Any) -> str:
    """The edit key of one grid cellValueChanged event; EditsRefused when the event names no table cell."""
    sheet, _, section = grid.partition("|") if isinstance(grid, str) else ("", "", "")
    if not isinstance(event, dict):
        raise _refuse(sheet or "this workbook", "the table edit is not a cell change")
    row = event.get("rowId", (event.get("data") or {}).get("__row") if isinstance(event.get("data"), dict) else None)
    col = event.get("colId")
    if not isinstance(row, str | int) or isinstance(row, bool) or not isinstance(col, str):
        raise _refuse(sheet or "this workbook", "the table edit names no row and column")
    return f"{sheet}|{section}|{row}|{col}"


def candidate_sheets(base: ParamSet, edits: Any, upload: dict[str, Any] | None = None) -> dict[str, Any]:
    """Canonical sheets of the origin (base version or pending upload) with the edits written over it.

    Edits come from the browser, so every key must name an existing parameter (sheet | section |
    row | field) and every value must be a plain cell value; otherwise EditsRefused says which.
    """
    if not isinstance(edits, dict) or len(edits) > MAX_EDITS:
        raise EditsRefused(f"pending edits must be a mapping of at most {MAX_EDITS} cells")
    if not all(isinstance(key, str) and len(key) <= 300 for key in edits):
        raise EditsRefused("an edit key is not a parameter name")
    origin = origin_sheets(base, upload)
    try:
        res = param_rows.resolve(base.schema, origin, edits)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise EditsRefused(f"the row edits do not fit this workbook ({exc}); discard them and edit again") from None
    if res.dropped:  # never written onto whichever row now has that number: refused, nothing applied
        raise EditsRefused(param_rows.dropped_message(list(res.dropped.values())) + " Nothing was applied; the page drops "
                           "them when it loads the active version")
    sheets = copy.deepcopy(res.sheets)
    for key, raw in edits.items():
        if param_rows.is_rows_key(key):
            continue
        _check_value(key, raw)
        try:
            k = Key(*res.cells[key]) if key in res.cells else Key.parse(key)
            sec = sheets[k.sheet][k.section]
            target = sec if k.row is None else sec[k.row]
            if not isinstance(target, dict) or k.field not in target or (k.row is not None and k.row < 0):
                raise KeyError(k.field)
        except (KeyError, IndexError, TypeError, ValueError):
            raise EditsRefused(f"the edit {key[:80]!r} names no parameter of this workbook; nothing was "
                               "applied") from None
        target[k.field] = raw
    return sheets


def validate_candidate(schema: Schema, sheets: dict[str, Any]) -> tuple[ParamSet | None, list[ParamIssue]]:
    """The whole set through the engine's validator (all-or-nothing); errors only."""
    ps, issues = build_paramset(schema, sheets)
    return ps, [i for i in issues if i.severity == "error"]


def all_keys(schema: Schema, sheets: dict[str, Any], sheet: str) -> list[str]:
    keys = []
    for sec in schema.sheet(sheet).data_sections:
        if sec.kind == "kv":
            keys += [str(Key(sheet, sec.key, None, f.name)) for f in sec.fields]
        else:
            for r in range(len(sheets.get(sheet, {}).get(sec.key, ()))):
                keys += [str(Key(sheet, sec.key, r, f.name)) for f in sec.fields]
    return keys


def pending_rows(schema: Schema, origin: dict[str, Any], edits: dict[str, Any], errors: dict[str, str],
                 sheets: dict[str, Any]) -> list[dict[str, Any]]:
    """The diff shown before Apply: sheet, cell (as in the exported workbook), parameter, old -> new."""
    locate = layout_locator(schema, sheets)
    res, rows = param_rows.resolve(schema, origin, edits), []  # res.sheets: a cell of an added row was blank before
    for key, raw in edits.items():
        if key in res.dropped:
            continue  # live_edits says why
        if param_rows.is_rows_key(key):
            rows.append(param_rows.describe(schema, origin, key, raw))
            continue
        k = Key(*res.cells[key]) if key in res.cells else Key.parse(key)
        f = field_spec(schema, k)
        label = f.header if k.row is None else f"{f.header} ({param_rows.row_name(schema, key)})"
        rows.append({"sheet": k.sheet, "cell": locate(k.sheet, k.section, k.row, k.field), "parameter": label,
                     "old": cell_text(canonical_value(res.sheets, k)), "new": cell_text(raw),
                     "error": errors.get(str(k)), "key": key})
    return sorted(rows, key=lambda r: (r["sheet"], r["key"]))


def refused_upload_note(name: str, pending: Any) -> str:
    """What a refused upload leaves in force, for its message: the file is not taken, an earlier one stays."""
    earlier = pending.get("filename") if isinstance(pending, dict) and pending.get("sheets") else None
    if earlier:
        return f"{name} was not taken; the earlier upload {str(earlier)[:120]} stays pending."
    return f"{name} was not taken; nothing else changed."


def change_rows(changes: list[Any]) -> list[dict[str, Any]]:
    """engine.params.diff.Change list -> diff table rows."""
    return [{"sheet": c.sheet, "cell": c.cell, "parameter": c.field, "old": cell_text(to_json_value(c.old)),
             "new": cell_text(to_json_value(c.new))} for c in changes]


def schema() -> Schema:
    return load_schema()


def defaults() -> ParamSet:
    return default_params()


def count_of(count: int, noun: str) -> str:
    """'1 change', '3 changes': the page's counts in plain words."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
