"""What the Parameters page needs, derived from the schema: a searchable catalogue and edit application.

Why here: the UI must not keep its own list of parameters or re-implement validation; it renders
the catalogue and sends raw edits back through `apply_edits`, which validates all-or-nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .coerce import to_json_value
from .diff import Change, diff_params
from .errors import ParamIssue
from .paramset import ParamSet, build_paramset
from .schema import GROUPS, FieldSpec, Schema, load_schema


@dataclass(frozen=True)
class ParamEntry:
    """One parameter (kv row) or table column, with everything an editor shows."""

    group: str
    sheet: str
    section: str
    section_title: str
    kind: str  # "kv" | "table"
    name: str
    header: str
    type: str
    editor: str  # "slider" | "number" | "switch" | "dropdown" | "time" | "list" | "colour" | "text"
    min: float | None
    max: float | None
    options: tuple[str, ...]
    default: Any
    unit: str
    description: str
    used: bool
    consumer: str | None
    unused_reason: str | None

    @property
    def key(self) -> str:
        """Stable id for UI components: "Sheet.section.name"."""
        return f"{self.sheet}.{self.section}.{self.name}"

    def matches(self, text: str) -> bool:
        t = text.lower()
        return any(t in s.lower() for s in (self.name, self.header, self.description, self.sheet, self.unit))

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["options"] = list(self.options)
        d["default"] = to_json_value(self.default) if not isinstance(self.default, list) else self.default
        d["key"] = self.key
        return d


def _editor(f: FieldSpec) -> str:
    if f.type in ("number", "integer"):
        return "slider" if f.min is not None and f.max is not None else "number"
    return {"boolean": "switch", "enum": "dropdown", "time": "time", "list": "list", "colour": "colour"}.get(
        f.type, "text")


def catalog(schema: Schema | None = None) -> list[ParamEntry]:
    """Every parameter and table column in schema order."""
    schema = schema or load_schema()
    out = []
    for sh, sec, f in schema.iter_fields():
        out.append(ParamEntry(sh.group, sh.name, sec.key, sec.title or "", sec.kind, f.name, f.header, f.type,
                              _editor(f), f.min, f.max, f.options, f.default, f.unit, f.description, f.used,
                              f.consumer, f.unused_reason))
    return out


def sheets_by_group(schema: Schema | None = None) -> dict[str, list[str]]:
    """Core / Indicators / Regime / Advanced / Specialized -> sheet names, in workbook order."""
    schema = schema or load_schema()
    out: dict[str, list[str]] = {g: [] for g in GROUPS}
    for sh in schema.sheets:
        out.setdefault(sh.group, []).append(sh.name)
    return out


def rules_for(sheet: str, schema: Schema | None = None) -> list[dict[str, Any]]:
    """Cross-field rules touching a sheet (to show next to its editor)."""
    schema = schema or load_schema()
    return [r for r in schema.rules if r.get("sheet") == sheet or r.get("ref", {}).get("sheet") == sheet]


@dataclass
class EditResult:
    paramset: ParamSet | None  # None when any edit or rule fails: nothing applies
    issues: list[ParamIssue]
    changes: list[Change]

    @property
    def ok(self) -> bool:
        return self.paramset is not None


def _target(schema: Schema, sheet: str, section: str, kind: str, name: str | None = None) -> None:
    """ValueError naming what an edit's key names that the schema does not have (never a bare KeyError, and
    never Python's negative index: row -1 would edit the last row)."""
    if sheet not in schema.by_name:
        raise ValueError(f"there is no sheet {sheet!r} in the parameters")
    sec = next((s for s in schema.sheet(sheet).data_sections if s.key == section), None)
    if sec is None or sec.kind != kind:
        raise ValueError(f"sheet {sheet} has no {'table' if kind == 'table' else 'key/value section'} {section!r}")
    if name is not None and name not in sec.field_names:
        raise ValueError(f"{sheet}.{section} has no {'column' if kind == 'table' else 'parameter'} {name!r}")


def apply_edits(base: ParamSet, values: dict[tuple[str, str, str], Any] | None = None,
                tables: dict[tuple[str, str], list[dict[str, Any]]] | None = None,
                cells: dict[tuple[str, str, int, str], Any] | None = None) -> EditResult:
    """Pending UI edits on top of `base`, validated all-or-nothing (raw values, e.g. text from inputs).

    values: (sheet, section, name) -> value of a key/value parameter
    cells:  (sheet, section, row index, column name) -> value of one table cell
    tables: (sheet, section) -> the whole table's rows (adding, removing or reordering rows)
    A key naming no sheet, section, parameter or row raises ValueError saying which.
    """
    c = base.to_canonical()["sheets"]
    for (sheet, section, name), v in (values or {}).items():
        _target(base.schema, sheet, section, "kv", name)
        c[sheet][section][name] = v
    for (sheet, section), rows in (tables or {}).items():
        _target(base.schema, sheet, section, "table")
        c[sheet][section] = [dict(r) for r in rows]
    for (sheet, section, row, name), v in (cells or {}).items():
        _target(base.schema, sheet, section, "table", name)
        n = len(c[sheet][section])
        if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < n:
            raise ValueError(f"{sheet}.{section} has no row {row!r} (rows 0 to {n - 1})")
        c[sheet][section][row][name] = v
    ps, issues = build_paramset(base.schema, c)
    changes = diff_params(base, ps) if ps is not None else []
    return EditResult(ps, [i for i in issues if i.severity == "error"], changes)
