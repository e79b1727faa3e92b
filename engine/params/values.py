"""Build typed values (sheet -> section -> params or rows) from raw values, collecting problems.

Why separate from validation: coercion answers "what does this cell mean", validation answers
"is the whole set consistent"; the importer, from_canonical and the UI share both steps.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .coerce import CoerceError, coerce, fmt_value, is_blank
from .errors import ParamIssue
from .layout import field_cell, sheet_layout
from .schema import FieldSpec, Schema

Values = dict[str, dict[str, Any]]  # sheet -> section -> dict[name, value] | tuple[dict, ...]
Locator = Callable[[str, str, "int | None", str], str]


def layout_locator(schema: Schema, values: Values) -> Locator:
    """Cells as the exporter would write them (used when values did not come from a file)."""
    cache: dict[str, Any] = {}

    def locate(sheet: str, section: str, row: int | None, field: str) -> str:
        if sheet not in cache:
            sv = values.get(sheet, {})
            counts = {k: len(v) for k, v in sv.items() if isinstance(v, tuple | list)}
            cache[sheet] = sheet_layout(schema.sheet(sheet), counts)
        try:
            return field_cell(cache[sheet][section], field, row)
        except (KeyError, StopIteration):
            return ""

    return locate


def default_values(schema: Schema, sheet_name: str) -> dict[str, Any]:
    sh = schema.sheet(sheet_name)
    out: dict[str, Any] = {}
    for sec in sh.data_sections:
        if sec.kind == "kv":
            out[sec.key] = {f.name: coerce(f, f.default) if f.default is not None else None for f in sec.fields}
        else:
            out[sec.key] = tuple({f.name: coerce(f, r.get(f.name)) for f in sec.fields} for r in sec.default_rows)
    return out


def _issue(sheet: str, cell: str, path: str, e: CoerceError, raw: Any, what: str) -> ParamIssue:
    return ParamIssue(sheet, cell, f"{what}: {e.message}", e.expected, e.fix, raw, path)


def build_values(schema: Schema, raw: dict[str, Any], locate: Locator | None = None,
                 *, missing_sheet: str = "default", keep_invalid: bool = False) -> tuple[Values, list[ParamIssue]]:
    """Coerce every field of `raw` (canonical shape, raw cell values); missing parts take defaults.

    missing_sheet: "default" (warning, for stored versions older than the schema) or "error" (for uploads).
    The rule for uploads: whatever the schema requires must be in the file, so a missing sheet and a missing
    parameter row of a present sheet are both errors naming the sheet and the parameter; only what the schema
    marks optional (an optional sheet, a field with required=False) is filled from defaults with a warning.
    The reference workbook holds every required parameter, so it imports without errors.
    keep_invalid: a value that does not coerce is kept as given (still reported), for showing or diffing a stored
    version that no longer validates; such values never become a ParamSet the engine trades on.
    """
    issues: list[ParamIssue] = []
    values: Values = {}
    loc = locate or (lambda *_: "")
    for sh in schema.sheets:
        rsheet = raw.get(sh.name)
        if rsheet is None:
            values[sh.name] = default_values(schema, sh.name)
            sev = "warning" if (sh.optional or missing_sheet == "default") else "error"
            issues.append(ParamIssue(sh.name, "", MISSING_SHEET, f"a sheet named {sh.name}",
                                     "defaults were used" if sev == "warning" else
                                     "add the sheet (download the template for its layout)", severity=sev))
            continue
        sv: dict[str, Any] = {}
        for sec in sh.data_sections:
            rsec = rsheet.get(sec.key)
            if rsec is None:
                sv[sec.key] = default_values(schema, sh.name)[sec.key]
                issues.append(ParamIssue(sh.name, "", f"section {sec.title or sec.key!r} is missing",
                                         fix="defaults were used", field=sec.key, severity="warning"))
                continue
            if sec.kind == "kv":
                out: dict[str, Any] = {}
                for f in sec.fields:
                    if f.name not in rsec:
                        out[f.name] = coerce(f, f.default) if f.default is not None else None
                        required = missing_sheet == "error" and f.required and not sh.optional
                        issues.append(ParamIssue(
                            sh.name, "", f"parameter {f.header} is missing", f"a row for {f.header}",
                            "add the row back (download the template for its layout)" if required
                            else f"the default {fmt_value(f, out[f.name])} was used",
                            field=f"{sec.key}.{f.name}", severity="error" if required else "warning"))
                        continue
                    try:
                        out[f.name] = coerce(f, rsec[f.name])
                    except CoerceError as e:
                        if keep_invalid:
                            out[f.name] = rsec[f.name]
                        issues.append(_issue(sh.name, loc(sh.name, sec.key, None, f.name),
                                             f"{sec.key}.{f.name}", e, rsec[f.name], f.header))
                for extra in rsec.keys() - sec.field_names:
                    issues.append(ParamIssue(sh.name, "", f"unknown parameter {extra!r} ignored",
                                             field=f"{sec.key}.{extra}", severity="warning"))
                sv[sec.key] = out
            else:
                rows = []
                absent = _absent_columns(sh.name, sec.title, sec.fields, rsec, issues)
                for i, rrow in enumerate(rsec):
                    row: dict[str, Any] = {}
                    for f in sec.fields:
                        if f.name in absent:
                            row[f.name] = None
                            continue
                        try:
                            row[f.name] = coerce(f, rrow.get(f.name))
                        except CoerceError as e:
                            row[f.name] = rrow.get(f.name) if keep_invalid else None
                            issues.append(_issue(sh.name, loc(sh.name, sec.key, i, f.name),
                                                 f"{sec.key}[{i}].{f.name}", e, rrow.get(f.name),
                                                 _row_label(sec.fields, f, rrow)))
                    rows.append(row)
                sv[sec.key] = tuple(rows)
        values[sh.name] = sv
    for extra in set(raw) - set(schema.by_name):
        issues.append(ParamIssue(str(extra), "", "unknown sheet ignored", severity="warning"))
    return values, issues


MISSING_SHEET = "sheet is missing"
Part = tuple[str, str | None, str | None]  # (sheet, section or None, kv field or None): a part a set lacks


def missing_parts(schema: Schema, raw: dict[str, Any]) -> list[Part]:
    """The sheets, sections and key/value parameters `raw` (canonical sheets) lacks, which build_values would
    fill from the schema defaults (e.g. a version stored before a sheet was added to the schema)."""
    out: list[Part] = []
    for sh in schema.sheets:
        rsheet = raw.get(sh.name)
        if not isinstance(rsheet, dict):
            out.append((sh.name, None, None))
            continue
        for sec in sh.data_sections:
            rsec = rsheet.get(sec.key)
            if rsec is None:
                out.append((sh.name, sec.key, None))
            elif sec.kind == "kv" and isinstance(rsec, dict):
                out += [(sh.name, sec.key, f.name) for f in sec.fields if f.name not in rsec]
    return out


def filled_parts(issues: list[ParamIssue]) -> list[Part]:
    """The parts build_values filled from the schema defaults, read from its warnings (an import's report)."""
    out: list[Part] = []
    for i in issues:
        if i.severity == "error":
            continue
        if i.message == MISSING_SHEET and not i.field:
            out.append((i.sheet, None, None))
        elif i.message.startswith("section ") and i.message.endswith(" is missing") and i.field:
            out.append((i.sheet, i.field, None))
        elif i.message.startswith("parameter ") and i.message.endswith(" is missing") and "." in i.field:
            section, name = i.field.split(".", 1)
            out.append((i.sheet, section, name))
    return out


def fill_from(schema: Schema, sheets: dict[str, Any], base: dict[str, Any],
              parts: list[Part]) -> tuple[dict[str, Any], list[str]]:
    """`sheets` (canonical) with each of `parts` taken from `base` (canonical sheets of the version it is applied
    onto) instead of the schema defaults: a file or an old version that lacks a sheet must not reset it. Neither
    input is mutated; what is taken from `base` is copied. Returns the merged sheets and the parts taken, in words
    ("TradingRisk", "TradingRisk: MaxOrderQty")."""
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in sheets.items()}
    kept: list[str] = []
    for sheet, section, name in parts:
        bsheet = base.get(sheet)
        if not isinstance(bsheet, dict):
            continue
        if section is None:
            merged[sheet] = copy.deepcopy(bsheet)
            kept.append(sheet)
            continue
        bsec = bsheet.get(section)
        if bsec is None or (name is not None and (not isinstance(bsec, dict) or name not in bsec)):
            continue
        target = merged.setdefault(sheet, {})
        if name is None:
            target[section] = copy.deepcopy(bsec)
            kept.append(f"{sheet} (section {section})")
        else:
            target[section] = {**(target.get(section) or {}), name: bsec[name]}
            kept.append(f"{sheet}: {_header(schema, sheet, section, name)}")
    return merged, kept


def _header(schema: Schema, sheet: str, section: str, name: str) -> str:
    try:
        return next(f.header for f in schema.sheet(sheet).section(section).fields if f.name == name)
    except (KeyError, StopIteration):
        return name


def _absent_columns(sheet: str, title: str | None, fields: tuple[FieldSpec, ...], rows: Any,
                    issues: list[ParamIssue]) -> set[str]:
    """Columns no row has (deleted or renamed in the file): one issue each, instead of an empty cell per row."""
    if not rows:
        return set()
    absent = {f.name for f in fields if all(f.name not in r for r in rows)}
    for f in fields:
        if f.name in absent:
            where = f"sheet {sheet}" + (f" (table {title})" if title else "")
            issues.append(ParamIssue(sheet, "", f"column {f.header} is missing from {where}",
                                     f"a column headed {f.header}", "add the column back (see the template)",
                                     field=f.name, severity="error" if f.required else "warning"))
    return absent


def _row_label(fields: tuple[FieldSpec, ...], f: FieldSpec, rrow: dict[str, Any]) -> str:
    """'MinDuration of row 'Strong_Bullish_High_Vol'': the row named by its unique text key when it has one (else
    its first column), shown as typed text: a reader's 0.0 for an id is row '0'."""
    keys = [k for k in fields if k.unique and k.type in ("text", "pattern")] + [fields[0]]
    for k in keys:
        v = rrow.get(k.name)
        if k is not f and not is_blank(v):
            text = str(int(v)) if isinstance(v, float) and v.is_integer() else str(v).strip()
            return f"{f.header} of row {text[:40]!r}"
    return f.header
