"""Validation of typed values: bounds, row counts, uniqueness, then the schema's cross-field rules.

All problems are collected (never stop at the first) so the UI and CLI can list them at once.
"""
from __future__ import annotations

from typing import Any

from .coerce import fmt_value, range_words
from .errors import ParamIssue
from .rules import check_rules
from .schema import FieldSpec, Schema
from .values import Locator, Values


def _bounds(f: FieldSpec, v: Any) -> str | None:
    if f.type in ("number", "integer") and v is not None:
        if f.min is not None and v < f.min:
            return "below"
        if f.max is not None and v > f.max:
            return "above"
    return None


def _bounds_issue(sheet: str, cell: str, path: str, label: str, f: FieldSpec, v: Any) -> ParamIssue:
    side = _bounds(f, v)
    fix = f"set it between {f.min} and {f.max}" if f.min is not None and f.max is not None else \
        (range_words(f, "set it to a value", unit="") or "set it")
    return ParamIssue(sheet, cell, f"{label}: {fmt_value(f, v)} is {side} the allowed range", range_words(f, "a value") or "",
                      f"{fix} (default {fmt_value(f, f.default)})", v, path)


def validate_values(schema: Schema, values: Values, locate: Locator) -> list[ParamIssue]:
    """Every field-level and cross-field problem of `values` (typed, as built by build_values)."""
    issues: list[ParamIssue] = []
    for sh in schema.sheets:
        sv = values.get(sh.name, {})
        for sec in sh.data_sections:
            data = sv.get(sec.key)
            if data is None:
                continue
            checked = sec.range_checked_fields
            if sec.kind == "kv":
                for f in checked:
                    v = data.get(f.name)
                    if v is None:
                        continue
                    if _bounds(f, v):
                        issues.append(_bounds_issue(sh.name, locate(sh.name, sec.key, None, f.name),
                                                    f"{sec.key}.{f.name}", f.header, f, v))
                    if f.type == "list":
                        issues.extend(_list_issues(sh.name, sec.key, None, f, v, locate))
                continue
            if not sec.min_rows <= len(data) <= sec.max_rows:
                issues.append(ParamIssue(sh.name, locate(sh.name, sec.key, 0, sec.fields[0].name),
                                         f"{sec.title or 'the table'} has {len(data)} rows",
                                         f"between {sec.min_rows} and {sec.max_rows} rows",
                                         "add or remove rows", len(data), sec.key))
            for f in checked:
                seen: dict[Any, int] = {}
                name, is_list = f.name, f.type == "list"
                lo = f.min if f.type in ("number", "integer") else None
                hi = f.max if f.type in ("number", "integer") else None
                for i, row in enumerate(data):
                    v = row.get(name)
                    if v is None:
                        continue
                    if (lo is not None and v < lo) or (hi is not None and v > hi):
                        issues.append(_bounds_issue(sh.name, locate(sh.name, sec.key, i, f.name),
                                                    f"{sec.key}[{i}].{f.name}", f"{f.header} of row {i + 1}", f, v))
                    if is_list:
                        issues.extend(_list_issues(sh.name, sec.key, i, f, v, locate))
                    if f.unique:
                        k = v.lower() if isinstance(v, str) else v
                        if k in seen:
                            issues.append(ParamIssue(
                                sh.name, locate(sh.name, sec.key, i, f.name),
                                f"{f.header} {fmt_value(f, v)} appears twice (also in row {seen[k] + 1} of the table)",
                                f"each {f.header} only once", "rename or remove one of the rows", v,
                                f"{sec.key}[{i}].{f.name}"))
                        else:
                            seen[k] = i
    issues.extend(check_rules(schema, values, locate))
    return issues


def _list_issues(sheet: str, section: str, row: int | None, f: FieldSpec, v: Any,
                 locate: Locator) -> list[ParamIssue]:
    if f.type != "list" or v is None:
        return []
    n = len(v)
    if (f.min_items is not None and n < f.min_items) or (f.max_items is not None and n > f.max_items):
        return [ParamIssue(sheet, locate(sheet, section, row, f.name), f"{f.header} has {n} items",
                           f"between {f.min_items} and {f.max_items} items", "", fmt_value(f, v), f"{section}.{f.name}")]
    if f.item_type == "number" and (f.min is not None or f.max is not None):
        bad = [x for x in v if (f.min is not None and x < f.min) or (f.max is not None and x > f.max)]
        if bad:
            return [ParamIssue(sheet, locate(sheet, section, row, f.name),
                               f"{f.header}: item {bad[0]:g} is out of range", f"items from {f.min} to {f.max}",
                               "", fmt_value(f, v), f"{section}.{f.name}")]
    return []
