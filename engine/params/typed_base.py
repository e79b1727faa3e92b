"""Base classes of the generated typed parameter views (engine/params/typed.py).

The views hold a ParamSet and read through it on every attribute access, so the ParamSet's read
recorder (the consumption test) sees typed reads exactly as it sees `ps.sheet(...)` reads.
"""
from __future__ import annotations

from typing import Any, TypeVar

from engine.params.paramset import ParamSet, Row


class SheetView:
    """A sheet's key/value parameters as typed properties (generated subclasses name them)."""

    SHEET = ""
    __slots__ = ("_ps",)

    def __init__(self, ps: ParamSet) -> None:
        self._ps = ps

    def _read(self, name: str) -> Any:
        return getattr(self._ps.sheet(self.SHEET), name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(version {self._ps.version_id})"


class TableRowView:
    """One table row as typed properties; reads go through the recorded Row."""

    __slots__ = ("_row",)

    def __init__(self, row: Row) -> None:
        self._row = row

    def _read(self, name: str) -> Any:
        return getattr(self._row, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._row!r})"


RowT = TypeVar("RowT", bound=TableRowView)


def rows_of(ps: ParamSet, sheet: str, section: str, cls: type[RowT]) -> tuple[RowT, ...]:
    """The rows of a table section, each wrapped in its generated row class."""
    return tuple(cls(row) for row in ps.table(sheet, section))
