"""Where every section, header and value sits in the exported workbook.

Why one module: the exporter writes cells here, and validation of a parameter set that did
not come from a file (UI edit, stored version) names errors at these same cells, so a trader
can open the exported workbook and find them.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from openpyxl.utils import get_column_letter

from .schema import SectionSpec, SheetSpec


@dataclass(frozen=True)
class SectionLayout:
    spec: SectionSpec
    title_row: int | None
    header_row: int | None
    first_row: int  # first data row (or first notes line)
    n_rows: int
    value_col: int  # kv: 1-based column of the Value cell; table: unused

    @property
    def last_row(self) -> int:
        return self.first_row + max(self.n_rows, 1) - 1 if self.n_rows else (self.header_row or self.title_row or
                                                                             self.first_row - 1)


@lru_cache(maxsize=8192)
def cell(row: int, col: int) -> str:
    return f"{get_column_letter(col)}{row}"


def value_col(sec: SectionSpec) -> int:
    if not sec.header:
        return 2
    return next(i for i, c in enumerate(sec.columns, 1) if c.role == "value")


def sheet_layout(sheet: SheetSpec, row_counts: dict[str, int] | None = None) -> dict[str, SectionLayout]:
    """Lay the sheet's sections out top to bottom; tables take `row_counts[key]` rows (default: schema)."""
    row_counts = row_counts or {}
    last = sheet.title_row or 0
    out: dict[str, SectionLayout] = {}
    for sec in sheet.sections:
        r = last + sec.gap_before + 1
        title_row = header_row = None
        if sec.title:
            title_row, r = r, r + 1
        if sec.kind != "notes" and sec.header:
            header_row, r = r, r + 1
        if sec.kind == "kv":
            n = len(sec.fields)
        elif sec.kind == "table":
            n = row_counts.get(sec.key, len(sec.default_rows))
        else:
            n = len(sec.lines)
        lay = SectionLayout(sec, title_row, header_row, r, n, value_col(sec) if sec.kind == "kv" else 0)
        out[sec.key] = lay
        last = lay.last_row
    return out


def field_cell(lay: SectionLayout, field: str, row: int | None) -> str:
    """Cell of a kv parameter (row None) or of a table cell (row index, 0-based)."""
    sec = lay.spec
    if sec.kind == "kv":
        i = next(i for i, f in enumerate(sec.fields) if f.name == field)
        return cell(lay.first_row + i, lay.value_col)
    j = next(j for j, f in enumerate(sec.fields, 1) if f.name == field)
    return cell(lay.first_row + (row or 0), j)
