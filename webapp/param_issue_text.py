"""The message under a Parameters editor for each validation issue: which edit key it belongs to, the problem,
and what is expected (a number cell's allowed range in the upload's own words).
"""
from __future__ import annotations

from typing import Any

from engine.params import ParamIssue
from engine.params.coerce import range_words
from engine.params.schema import FieldSpec, Schema
from engine.params.values import layout_locator
from webapp.param_views import FIELD_PATH, Key, all_keys, field_spec


def issues_by_key(schema: Schema, sheets: dict[str, Any], issues: list[ParamIssue]) -> dict[str, str]:
    """Edit key -> message for every issue that points at one field (by its field path or cell)."""
    locate = layout_locator(schema, sheets)
    by_cell: dict[tuple[str, str], ParamIssue] = {}
    out: dict[str, str] = {}
    for i in issues:
        m = FIELD_PATH.match(i.field or "")
        if m:
            row = int(m["row"]) if m["row"] is not None else None
            k = Key(i.sheet, m["section"], row, m["field"])
            out.setdefault(str(k), _short(i, _spec_or_none(schema, k)))
        elif i.cell:
            by_cell.setdefault((i.sheet, i.cell.split(":")[0]), i)
    if by_cell:
        for sheet in {s for s, _ in by_cell}:
            for key in all_keys(schema, sheets, sheet):
                k = Key.parse(key)
                hit = by_cell.get((sheet, locate(sheet, k.section, k.row, k.field)))
                if hit:
                    out.setdefault(key, _short(hit, _spec_or_none(schema, k)))
    return out


# what engine.params.coerce expects of a number cell whose text is no number: these messages name the type only
_NUMBER_TYPE_EXPECTED = frozenset({"a number", "a whole number", "a finite number"})


def _spec_or_none(schema: Schema, k: Key) -> FieldSpec | None:
    try:
        return field_spec(schema, k)
    except KeyError:  # an issue about a cell no editor shows
        return None


def _short(i: ParamIssue, f: FieldSpec | None = None) -> str:
    """The message under an editor: the problem and what is expected. A number cell whose text is no (whole, finite)
    number also gets the field's allowed range, worded as the upload's out-of-range message words it."""
    expected = i.expected or ""
    if f is not None and f.type in ("number", "integer") and expected in _NUMBER_TYPE_EXPECTED:
        allowed = range_words(f, "a value")
        if allowed:
            expected = f"{expected}, {allowed}"
    return i.message + (f"; expected {expected}" if expected else "")
