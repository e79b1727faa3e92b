"""The parameter schema, loaded from config/parameters/schema.json (the single list of parameters).

Why a typed wrapper: the importer, validator, exporter, UI and ParamSet all walk the same
sheets/sections/fields; giving them frozen dataclasses keeps the JSON the only source of names.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "parameters" / "schema.json"

TYPES = ("number", "integer", "boolean", "enum", "time", "list", "expression", "pattern", "text", "colour")
GROUPS = ("Core", "Indicators", "Regime", "Advanced", "Specialized")


@dataclass(frozen=True, eq=False)
class FieldSpec:
    """One parameter (a key/value row) or one table column."""

    name: str
    header: str  # text in the workbook: the Parameter cell (kv) or the column header (table)
    type: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    options: tuple[str, ...] = ()
    item_type: str = "text"  # for lists
    format: str | None = None  # expression grammar name / text regex name
    unit: str = ""
    description: str = ""
    consumer: str | None = None
    unused_reason: str | None = None
    required: bool = True
    unique: bool = False
    min_items: int | None = None
    max_items: int | None = None

    @cached_property
    def option_map(self) -> dict[str, str]:
        """lower-case option -> option as spelled in the schema (case-insensitive enum matching)."""
        return {o.lower(): o for o in self.options}

    @property
    def used(self) -> bool:
        """Read by the engine (consumers outside engine/, e.g. pages.regime, are display-only)."""
        return self.consumer is not None and self.consumer.startswith("engine.") and not self.unused_reason


@dataclass(frozen=True)
class ColumnSpec:
    """A column of a key/value section: its header and the role it plays (key, value, min, ...)."""

    header: str
    role: str


@dataclass(frozen=True)
class SectionSpec:
    key: str
    kind: str  # "kv" | "table" | "notes"
    title: str | None
    header: bool
    gap_before: int
    columns: tuple[ColumnSpec, ...] = ()  # kv: header/role pairs
    fields: tuple[FieldSpec, ...] = ()  # kv: params in row order; table: columns in order
    default_rows: tuple[dict[str, Any], ...] = ()
    key_field: str | None = None  # table column identifying a row
    min_rows: int = 0
    max_rows: int = 500
    lines: tuple[tuple[str, ...], ...] = ()  # notes
    description: str = ""

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @cached_property
    def field_names(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields)

    @cached_property
    def range_checked_fields(self) -> tuple[FieldSpec, ...]:
        """Fields validate_values looks at row by row (bounds, list lengths, uniqueness); computed once."""
        return tuple(f for f in self.fields if f.type in ("number", "integer", "list") or f.unique)


@dataclass(frozen=True)
class SheetSpec:
    name: str
    group: str
    description: str
    style: str
    title: str | None
    title_row: int | None
    sections: tuple[SectionSpec, ...]
    optional: bool = False
    col_widths: dict[str, float] = field(default_factory=dict, hash=False, compare=False)

    def section(self, key: str | None = None) -> SectionSpec:
        if key is None:
            return next(s for s in self.sections if s.kind != "notes")
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(f"{self.name} has no section {key!r}; sections: {[s.key for s in self.sections]}")

    @cached_property
    def data_sections(self) -> tuple[SectionSpec, ...]:
        return tuple(s for s in self.sections if s.kind != "notes")

    @property
    def width(self) -> int:
        return max([len(s.columns) or len(s.fields) for s in self.data_sections] + [2])


@dataclass(frozen=True, eq=False)
class Schema:
    version: int
    sheets: tuple[SheetSpec, ...]
    rules: tuple[dict[str, Any], ...]
    limits: dict[str, Any]

    def sheet(self, name: str) -> SheetSpec:
        s = self.by_name.get(name)
        if s is None:
            raise KeyError(f"unknown sheet {name!r}")
        return s

    @cached_property
    def by_name(self) -> dict[str, SheetSpec]:
        return {s.name: s for s in self.sheets}

    @cached_property
    def kv_index(self) -> dict[str, dict[str, tuple[str, FieldSpec]]]:
        """sheet -> parameter name -> (section key, spec), over all key/value sections of the sheet."""
        out: dict[str, dict[str, tuple[str, FieldSpec]]] = {}
        for sh in self.sheets:
            idx = out.setdefault(sh.name, {})
            for sec in sh.data_sections:
                if sec.kind == "kv":
                    for f in sec.fields:
                        idx.setdefault(f.name, (sec.key, f))
        return out

    @cached_property
    def used_counts(self) -> tuple[int, int]:
        """(fields read by the engine, fields marked not used) for reports and the UI."""
        used = sum(1 for _sh, _sec, f in self.iter_fields() if f.used)
        return used, sum(1 for _ in self.iter_fields()) - used

    def iter_fields(self):
        """Yield (sheet, section, field) for every parameter/column in the schema."""
        for sh in self.sheets:
            for sec in sh.data_sections:
                for f in sec.fields:
                    yield sh, sec, f


def _field(d: dict[str, Any], inherited_consumer: str | None, inherited_reason: str | None) -> FieldSpec:
    reason = d.get("unused_reason", inherited_reason if "consumer" not in d else None)
    return FieldSpec(
        name=d["name"], header=d.get("label") or d.get("header") or d["name"], type=d["type"],
        default=d.get("default"), min=d.get("min"), max=d.get("max"),
        options=tuple(d.get("options") or ()), item_type=d.get("item_type", "text"), format=d.get("format"),
        unit=d.get("unit", ""), description=d.get("description", ""),
        consumer=d.get("consumer", inherited_consumer), unused_reason=reason,
        required=d.get("required", True), unique=d.get("unique", False),
        min_items=d.get("min_items"), max_items=d.get("max_items"),
    )


def parse_schema(raw: dict[str, Any]) -> Schema:
    """Turn the JSON document into frozen specs (no validation of the values themselves)."""
    sheets = []
    for sh in raw["sheets"]:
        secs = []
        for sec in sh["sections"]:
            consumer = sec.get("consumer", sh.get("consumer"))
            reason = sec.get("unused_reason", sh.get("unused_reason"))
            if sec["kind"] == "kv":
                fields = tuple(_field(p, consumer, reason) for p in sec["params"])
            elif sec["kind"] == "table":
                fields = tuple(_field(c, consumer, reason) for c in sec["columns"])
            else:
                fields = ()
            secs.append(SectionSpec(
                key=sec["key"], kind=sec["kind"], title=sec.get("title"), header=sec.get("header", True),
                gap_before=sec.get("gap_before", 0),
                columns=tuple(ColumnSpec(c["header"], c["role"]) for c in sec.get("columns", ())
                              if sec["kind"] == "kv"),
                fields=fields, default_rows=tuple(sec.get("default_rows", ())),
                key_field=sec.get("key_field"), min_rows=sec.get("min_rows", 0), max_rows=sec.get("max_rows", 500),
                lines=tuple(tuple(line) for line in sec.get("lines", ())), description=sec.get("description", ""),
            ))
        title = sh.get("title") or {}
        sheets.append(SheetSpec(
            name=sh["name"], group=sh.get("group", "Advanced"), description=sh.get("description", ""),
            style=sh.get("style", "classic"), title=title.get("text"), title_row=title.get("row"),
            sections=tuple(secs), optional=sh.get("optional", False), col_widths=sh.get("col_widths", {}),
        ))
    return Schema(version=raw["schema_version"], sheets=tuple(sheets), rules=tuple(raw.get("rules", ())),
                  limits=raw.get("limits", {}))


@lru_cache(maxsize=4)
def load_schema(path: str | None = None) -> Schema:
    """Load and cache the schema (the file is immutable at runtime)."""
    p = Path(path) if path else SCHEMA_PATH
    return parse_schema(json.loads(p.read_text(encoding="utf-8")))
