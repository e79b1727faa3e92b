"""Write a ParamSet as an .xlsx in the reference layout (titles, sections, headers, metadata columns).

Why the same layout: traders diff and edit the file they know; export then import must give an
identical ParamSet, and no text cell may ever become a formula.
"""
from __future__ import annotations

import io
import re
from datetime import time
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from .coerce import fmt_value
from .layout import sheet_layout
from .paramset import ParamSet, default_params
from .schema import FieldSpec, SheetSpec

FORMULA_STARTS = ("=", "+", "-", "@")
_STYLES = {
    "classic": {"title_fill": "366092", "title_font": Font(bold=True, color="FFFFFF", size=12),
                "head_fill": "366092", "head_font": Font(bold=True, color="FFFFFF", size=12), "value_fill": "E7F3FF"},
    "phase2": {"title_fill": "D3D3D3", "title_font": Font(bold=True, size=14),
               "head_fill": "E0E0E0", "head_font": Font(bold=True), "value_fill": None},
    "summary": {"title_fill": None, "title_font": Font(bold=True, color="FF0000", size=12),
                "head_fill": None, "head_font": Font(bold=True), "value_fill": None},
}
_BOLD = Font(bold=True)
# Excel stores a character as _xHHHH_ in cell text and readers (calamine, Excel, LibreOffice) decode it: literal text
# of that shape must have its underscore escaped as _x005F_, as Excel itself does, or it comes back as another text
_XESC = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)")


def put(ws: Worksheet, row: int, col: int, value: Any) -> Any:
    """Write one cell; text that Excel could read as a formula or an error value (#N/A, #REF!...) is forced to stay
    text, so it reads back as the same text. A control character no cell can hold (validation refuses them; a
    ParamSet built without validation might hold one) becomes U+FFFD instead of failing the whole export. Literal
    _xHHHH_ text is escaped (_x005F_xHHHH_) so it reads back as typed, not as the character HHHH."""
    c = ws.cell(row=row, column=col)
    if value is None:
        return c
    if isinstance(value, time):
        value = fmt_value(None, value)
    elif isinstance(value, tuple | list):
        value = ",".join(fmt_value(None, v) for v in value)
    if isinstance(value, str) and ILLEGAL_CHARACTERS_RE.search(value):
        value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    if isinstance(value, str) and "_x" in value:
        value = _XESC.sub("_x005F_", value)
    c.value = value
    if isinstance(value, str) and (value.startswith(FORMULA_STARTS) or value in ERROR_CODES):
        c.data_type = "s"
        c.quotePrefix = True
    return c


def _fill(rgb: str | None) -> PatternFill | None:
    return PatternFill("solid", fgColor=rgb) if rgb else None


def _meta(f: FieldSpec, role: str) -> Any:
    """Content of a kv metadata column (Default/Min/Max/Unit/Options/Description) derived from the schema."""
    if role == "default":
        return f.default if f.type != "boolean" else bool(f.default)
    if role == "description":
        return f.description
    if role in ("min", "max"):
        if f.type in ("number", "integer"):
            return getattr(f, role)
        if f.type == "boolean":
            return role == "min"
        if f.type == "enum" and f.options:
            return f.options[0] if role == "min" else f.options[-1]
        return None
    if role == "unit":
        return "boolean" if f.type == "boolean" else (f.unit or ("type" if f.type == "enum" else None))
    if role == "options":
        if f.type == "enum":
            return ",".join(f.options)
        if f.type == "boolean":
            return "TRUE,FALSE"
        if f.type in ("number", "integer") and f.min is not None and f.max is not None:
            return f"{f.min:g}-{f.max:g}"
        return {"time": "HH:MM", "list": "comma list"}.get(f.type, "Text")
    return None


def write_sheet(ws: Worksheet, spec: SheetSpec, ps: ParamSet) -> None:
    values = ps._values[spec.name]  # internal read: export must not count as engine consumption
    st = _STYLES.get(spec.style, _STYLES["classic"])
    width = spec.width
    lays = sheet_layout(spec, {k: len(v) for k, v in values.items() if isinstance(v, tuple)})

    def title(row: int, text: str) -> None:
        c = put(ws, row, 1, text)
        c.font = st["title_font"]
        if st["title_fill"]:
            c.fill = _fill(st["title_fill"])
        if spec.style != "summary" and width > 1:
            ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=width)

    def header(row: int, heads: list[str]) -> None:
        for j, h in enumerate(heads, 1):
            c = put(ws, row, j, h)
            c.font = st["head_font"]
            if st["head_fill"]:
                c.fill = _fill(st["head_fill"])

    if spec.title and spec.title_row:
        title(spec.title_row, spec.title)
    value_fill = _fill(st["value_fill"])
    for sec in spec.sections:
        lay = lays[sec.key]
        if lay.title_row and sec.title:
            title(lay.title_row, sec.title)
        if sec.kind == "notes":
            for i, line in enumerate(sec.lines):
                for j, text in enumerate(line, 1):
                    put(ws, lay.first_row + i, j, text)
                if line and len(line) < width:
                    ws.merge_cells(start_row=lay.first_row + i, start_column=len(line),
                                   end_row=lay.first_row + i, end_column=width)
            continue
        if sec.kind == "kv":
            cols = list(sec.columns) if sec.header else []
            if lay.header_row:
                header(lay.header_row, [c.header for c in cols])
            data = values[sec.key]
            for i, f in enumerate(sec.fields):
                r = lay.first_row + i
                k = put(ws, r, 1, f.header)
                if spec.style == "classic":
                    k.font = _BOLD
                if not cols:
                    put(ws, r, 2, data.get(f.name))
                    continue
                for j, col in enumerate(cols, 1):
                    if col.role == "key":
                        continue
                    if col.role == "value":
                        c = put(ws, r, j, data.get(f.name))
                        if value_fill:
                            c.fill = value_fill
                    else:
                        put(ws, r, j, _meta(f, col.role))
            continue
        header(lay.header_row, [f.header for f in sec.fields]) if lay.header_row else None
        for i, row in enumerate(values[sec.key]):
            for j, f in enumerate(sec.fields, 1):
                c = put(ws, lay.first_row + i, j, row.get(f.name))
                if j == 1 and spec.style == "classic":
                    c.font = _BOLD
                elif j == 2 and value_fill:
                    c.fill = value_fill
    for letter, w in spec.col_widths.items():
        ws.column_dimensions[letter].width = w
    if not spec.col_widths:
        for j in range(1, width + 1):
            ws.column_dimensions[get_column_letter(j)].width = 18
    if spec.style == "classic":
        ws.freeze_panes = "A2"


def export_workbook(ps: ParamSet, out: str | Path | None = None) -> bytes:
    """The .xlsx bytes of `ps` (also written to `out` when given)."""
    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.creator = "RegimeDesk"
    wb.properties.title = f"Strategy parameters{f' version {ps.version_id}' if ps.version_id else ''}"
    for spec in ps.schema.sheets:
        write_sheet(wb.create_sheet(spec.name), spec, ps)
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    if out is not None:
        Path(out).write_bytes(data)
    return data


def export_template(out: str | Path | None = None) -> bytes:
    """The default workbook (schema defaults == reference values), as a download template."""
    return export_workbook(default_params(), out)
