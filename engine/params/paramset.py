"""ParamSet: the immutable, validated values of one parameter version, with typed attribute access.

Why attribute access derived from the schema: engine modules read `ps.sheet("ATRIndicatorsConfig")
.atr_period` and get an int, never a workbook cell; every such read can be recorded so a test
proves each parameter marked "used" is really read (consumption honesty).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .coerce import to_json_value
from .errors import ParamsError, ValidationError
from .schema import Schema, load_schema
from .validate import validate_values
from .values import Values, build_values, default_values, layout_locator

Read = tuple[str, str, "int | None", str]  # (sheet, section, row index or None for kv, field)


@dataclass
class ReadRecorder:
    """Collects every (sheet, section, row, field) read through SheetConfig/Row attribute access."""

    reads: set[Read] = field(default_factory=set)

    def record(self, sheet: str, section: str, row: int | None, name: str) -> None:
        self.reads.add((sheet, section, row, name))

    def fields_read(self) -> set[tuple[str, str, str]]:
        return {(s, sec, f) for s, sec, _r, f in self.reads}

    def unread_used(self, schema: Schema | None = None) -> list[tuple[str, str, str, str]]:
        """(sheet, section, field, consumer) of every field marked used that was never read."""
        schema = schema or load_schema()
        got = self.fields_read()
        return [(sh.name, sec.key, f.name, f.consumer or "") for sh, sec, f in schema.iter_fields()
                if f.used and (sh.name, sec.key, f.name) not in got]


_ACTIVE: ContextVar[ReadRecorder | None] = ContextVar("regimedesk_params_reads", default=None)


@contextmanager
def track_reads() -> Iterator[ReadRecorder]:
    """Record every parameter read in this context (same thread / asyncio task).

    Threads started inside the block do not inherit the context: for those, pass
    `ps.with_recorder(rec)` instead.
    """
    rec = ReadRecorder()
    token = _ACTIVE.set(rec)
    try:
        yield rec
    finally:
        _ACTIVE.reset(token)


def _recorder(own: ReadRecorder | None) -> ReadRecorder | None:
    return own if own is not None else _ACTIVE.get()


class Row:
    """One table row; attributes are the snake_case column names (RegimeName -> regime_name)."""

    __slots__ = ("_data", "_sheet", "_section", "_index", "_rec")

    def __init__(self, data: dict[str, Any], sheet: str, section: str, index: int, rec: ReadRecorder | None):
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_sheet", sheet)
        object.__setattr__(self, "_section", section)
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_rec", rec)

    def __getattr__(self, name: str) -> Any:
        data = object.__getattribute__(self, "_data")
        if name not in data:
            raise AttributeError(f"{self._sheet}.{self._section} has no column {name!r}; columns: {list(data)}")
        rec = _recorder(self._rec)
        if rec is not None:
            rec.record(self._sheet, self._section, self._index, name)
        return data[name]

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("parameter rows are immutable; apply a new version instead")

    def as_dict(self) -> dict[str, Any]:
        """All fields (counts as reading all of them)."""
        rec = _recorder(self._rec)
        if rec is not None:
            for k in self._data:
                rec.record(self._sheet, self._section, self._index, k)
        return dict(self._data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Row) and self._data == other._data

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, str(v)) for k, v in self._data.items())))

    def __repr__(self) -> str:
        return f"Row({self._sheet}.{self._section}[{self._index}] {self._data!r})"


class SheetConfig:
    """Typed view of one sheet (or one kv section of it): attributes are its key/value parameters.

    Also a read-only mapping (`dict(sheet)`, `sheet["atr_period"]`, `.keys()`); every access is recorded.
    """

    __slots__ = ("_ps", "_name", "_section")

    def __init__(self, ps: ParamSet, name: str, section: str | None = None) -> None:
        object.__setattr__(self, "_ps", ps)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_section", section)

    def _index(self) -> dict[str, Any]:
        idx = self._ps.schema.kv_index[self._name]
        if self._section is None:
            return idx
        return {k: v for k, v in idx.items() if v[0] == self._section}

    def __getattr__(self, name: str) -> Any:
        idx = self._index()
        if name not in idx:
            raise AttributeError(f"sheet {self._name} has no parameter {name!r}; parameters: {sorted(idx)}")
        section = idx[name][0]
        rec = _recorder(self._ps._recorder)
        if rec is not None:
            rec.record(self._name, section, None, name)
        return self._ps._values[self._name][section][name]

    def __getitem__(self, name: str) -> Any:
        try:
            return self.__getattr__(name)
        except AttributeError as e:
            raise KeyError(str(e)) from None

    def keys(self) -> list[str]:
        return list(self._index())

    def get(self, name: str, default: Any = None) -> Any:
        """Like dict.get: `default` for a name the sheet does not have (reads are recorded)."""
        return self.__getattr__(name) if name in self._index() else default

    def __iter__(self) -> Iterator[str]:
        return iter(self._index())

    def __len__(self) -> int:
        return len(self._index())

    def __contains__(self, name: object) -> bool:
        return name in self._index()

    def items(self) -> list[tuple[str, Any]]:
        return [(k, getattr(self, k)) for k in self._index()]

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("parameters are immutable; apply a new version instead")

    @property
    def name(self) -> str:
        return self._name

    def table(self, section: str | None = None) -> tuple[Row, ...]:
        return self._ps.table(self._name, section)

    def as_dict(self) -> dict[str, Any]:
        """All kv parameters of the sheet (counts as reading all of them)."""
        return dict(self.items())

    def __dir__(self) -> list[str]:
        return sorted(self._index())

    def __repr__(self) -> str:
        return f"SheetConfig({self._name})"


class ParamSet:
    """Immutable validated values of one parameter version (version_id None = not stored yet)."""

    __slots__ = ("_values", "schema", "version_id", "_recorder", "_hash")

    def __init__(self, values: Values, schema: Schema, version_id: int | None = None,
                 recorder: ReadRecorder | None = None, _hash: str | None = None) -> None:
        """Internal: `values` must already be built and validated (use from_canonical / importers)."""
        self._values = values
        self.schema = schema
        self.version_id = version_id
        self._recorder = recorder
        self._hash = _hash

    # --- access -------------------------------------------------------------------------
    def sheet(self, name: str, section: str | None = None) -> SheetConfig:
        """Key/value parameters of a sheet (all its kv sections, or only `section`)."""
        if name not in self._values:
            raise ParamsError(f"no sheet named {name!r} in the parameters; sheets: {', '.join(self._values)}")
        if section is not None:
            sec = next((s for s in self.schema.sheet(name).data_sections if s.key == section), None)
            if sec is None or sec.kind != "kv":
                raise ParamsError(f"{name} has no key/value section {section!r}; use ps.table() for tables")
        return SheetConfig(self, name, section)

    def table(self, sheet: str, section: str | None = None) -> tuple[Row, ...]:
        """Rows of a table section (None = the sheet's first table)."""
        try:
            spec = self.schema.sheet(sheet)
        except KeyError:
            raise ParamsError(f"no sheet named {sheet!r} in the parameters") from None
        if section is None:
            sec = next((s for s in spec.data_sections if s.kind == "table"), None)
            if sec is None:
                raise ParamsError(f"sheet {sheet} has no table; read its parameters with ps.sheet({sheet!r})")
        else:
            try:
                sec = spec.section(section)
            except KeyError as e:
                raise ParamsError(str(e)) from None
            if sec.kind != "table":
                raise ParamsError(f"{sheet}.{section} is a key/value section; use ps.sheet({sheet!r}).<name>")
        rec = self._recorder
        return tuple(Row(d, sheet, sec.key, i, rec) for i, d in enumerate(self._values[sheet][sec.key]))

    @property
    def sheet_names(self) -> tuple[str, ...]:
        return tuple(self._values)

    def with_recorder(self, recorder: ReadRecorder | None) -> ParamSet:
        """Same values; every attribute read is recorded into `recorder`."""
        return ParamSet(self._values, self.schema, self.version_id, recorder, self._hash)

    def with_version(self, version_id: int | None) -> ParamSet:
        return ParamSet(self._values, self.schema, version_id, self._recorder, self._hash)

    # --- canonical form ----------------------------------------------------------------
    def to_canonical(self) -> dict[str, Any]:
        """JSON-able dict (times as HH:MM, lists as lists); the stored form of a version."""
        sheets: dict[str, Any] = {}
        for sname, sv in self._values.items():
            out: dict[str, Any] = {}
            for key, data in sv.items():
                if isinstance(data, dict):
                    out[key] = {k: to_json_value(v) for k, v in data.items()}
                else:
                    out[key] = [{k: to_json_value(v) for k, v in row.items()} for row in data]
            sheets[sname] = out
        return {"schema_version": self.schema.version, "sheets": sheets}

    @classmethod
    def from_canonical(cls, d: dict[str, Any], *, schema: Schema | None = None,
                       version_id: int | None = None) -> ParamSet:
        """Rebuild and re-validate; raises ValidationError listing every problem."""
        schema = schema or load_schema()
        ps, issues = build_paramset(schema, d.get("sheets", d), version_id=version_id)
        if ps is None:
            raise ValidationError(issues)
        return ps

    @property
    def content_hash(self) -> str:
        if self._hash is None:
            blob = json.dumps(self.to_canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            self._hash = hashlib.sha256(blob.encode()).hexdigest()
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParamSet) and self.content_hash == other.content_hash

    def __hash__(self) -> int:
        return hash(self.content_hash)

    def __repr__(self) -> str:
        return f"ParamSet(version_id={self.version_id}, hash={self.content_hash[:12]})"


def build_paramset(schema: Schema, raw_sheets: dict[str, Any], *, locate=None, missing_sheet: str = "default",
                   version_id: int | None = None) -> tuple[ParamSet | None, list[Any]]:
    """Coerce + validate; returns (ParamSet or None when any error, all issues incl. warnings)."""
    locate = locate or layout_locator(schema, raw_sheets)
    values, issues = build_values(schema, raw_sheets, locate, missing_sheet=missing_sheet)
    issues += validate_values(schema, values, locate)
    if any(i.severity == "error" for i in issues):
        return None, issues
    return ParamSet(values, schema, version_id), issues


@lru_cache(maxsize=2)
def default_params(schema_path: str | None = None) -> ParamSet:
    """The schema defaults (== the reference workbook's values), validated once and cached."""
    schema = load_schema(schema_path)
    values = {sh.name: default_values(schema, sh.name) for sh in schema.sheets}
    issues = [i for i in validate_values(schema, values, layout_locator(schema, values)) if i.severity == "error"]
    if issues:
        raise ValidationError(issues)
    return ParamSet(values, schema)
