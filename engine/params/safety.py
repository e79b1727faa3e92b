"""Hostile-upload walls: a byte-level pre-check before any parser, then parsing in a limited child.

Why both: python-calamine aborts the whole process on a sheet claiming cell XFD1048576 and any
reader can be made to allocate gigabytes; the pre-check refuses such files in milliseconds
(zip structure, sizes, ratios, macros, external links, DTDs, cell extents), and the child process
with RLIMIT_AS and a timeout contains whatever the pre-check did not foresee.
"""
from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import zipfile
import zlib
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from ._sandbox import formula_cells, percent_cells
from .errors import UnsafeWorkbookError
from .schema import load_schema

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# references are found as any attribute ending in r="COLROW" or r="ROW", wherever it sits (over-matching
# only risks refusing a file, never letting a huge one through); see _ref_patterns

_DIM = re.compile(rb'<(?:\w+:)?dimension\b[^>]*\bref="([A-Z]{1,4})?(\d{1,8})?(?::([A-Z]{1,4})(\d{1,8}))?"')
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


@dataclass(frozen=True)
class UploadLimits:
    """Bounds for an uploaded workbook; defaults come from schema.json "limits"."""

    max_upload_bytes: int = 5_000_000
    max_zip_members: int = 200
    max_uncompressed_bytes: int = 50_000_000
    max_compression_ratio: float = 100.0
    max_sheet_rows: int = 5000
    max_sheet_cols: int = 64
    max_sheets: int = 100
    parse_timeout_s: float = 20.0
    parse_memory_mb: int = 1536
    # bounds on the parsed grid, checked in the child before it hands anything back (the reference workbook:
    # ~4,500 cells, ~32,000 characters): a small file can expand into a huge grid through shared strings
    max_grid_cells: int = 500_000
    max_text_chars: int = 5_000_000

    @property
    def max_grid_json_bytes(self) -> int:
        """The most JSON a child within the grid bounds can write (a number or a date per cell, text escaped
        up to 6 bytes a character); anything larger is refused before json.loads."""
        return 64 * self.max_grid_cells + 6 * self.max_text_chars + 1_000_000

    @classmethod
    def from_schema(cls, **overrides: Any) -> UploadLimits:
        known = {f.name for f in fields(cls)}
        vals = {k: v for k, v in load_schema().limits.items() if k in known}
        vals.update(overrides)
        return cls(**vals)


def _col_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ch - 64)
    return n


def precheck(data: bytes, limits: UploadLimits | None = None) -> None:
    """Refuse anything that is not a plain, reasonably sized .xlsx; never parses cell content."""
    lim = limits or UploadLimits.from_schema()
    if len(data) > lim.max_upload_bytes:
        raise UnsafeWorkbookError(
            f"the file is {len(data) / 1e6:.1f} MB, above the {lim.max_upload_bytes / 1e6:.1f} MB limit; "
            "a parameter workbook is normally under 0.1 MB")
    if data[:8] == OLE_MAGIC:
        raise UnsafeWorkbookError("this is an old .xls (or password-protected) workbook; open it in Excel or "
                                  "LibreOffice and save it as .xlsx without a password")
    if data[:4] != b"PK\x03\x04":
        raise UnsafeWorkbookError("this is not an Excel .xlsx file; save the workbook as .xlsx and upload it again")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise UnsafeWorkbookError(f"the .xlsx file is damaged or truncated ({e}); save it again and re-upload") from None
    if len(infos) > lim.max_zip_members:
        raise UnsafeWorkbookError(f"the .xlsx holds {len(infos)} parts (limit {lim.max_zip_members}); "
                                  "this is not a plain parameter workbook")
    total = sum(i.file_size for i in infos)
    if total > lim.max_uncompressed_bytes:
        raise UnsafeWorkbookError(f"the workbook unpacks to {total / 1e6:.0f} MB (limit "
                                  f"{lim.max_uncompressed_bytes / 1e6:.0f} MB); refused as a possible zip bomb")
    names = {i.filename for i in infos}
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise UnsafeWorkbookError("the file is a zip but not an Excel workbook (no xl/workbook.xml)")
    for i in infos:
        if i.file_size > 100_000 and i.file_size / max(i.compress_size, 1) > lim.max_compression_ratio:
            raise UnsafeWorkbookError(f"part {i.filename} compresses {i.file_size / max(i.compress_size, 1):.0f}:1 "
                                      f"(limit {lim.max_compression_ratio:.0f}:1); refused as a possible zip bomb")
        low = i.filename.lower()
        if "vbaproject" in low or low.endswith(".bin") and "vba" in low:
            raise UnsafeWorkbookError("the workbook contains macros (VBA); save it as a plain .xlsx without macros")
        if low.startswith("xl/externallinks/"):
            raise UnsafeWorkbookError("the workbook links to other workbooks (external links); "
                                      "remove the links (Data > Edit Links > Break Link) and save again")
        if low.startswith(("xl/activex/", "xl/embeddings/")):
            raise UnsafeWorkbookError("the workbook contains embedded objects or ActiveX controls; remove them")
    try:
        ctypes_xml = zf.read("[Content_Types].xml")
        if b"macroEnabled" in ctypes_xml or b"vbaProject" in ctypes_xml:
            raise UnsafeWorkbookError("the workbook is macro-enabled (.xlsm); save it as a plain .xlsx")
        sheets = 0
        for i in infos:
            low = i.filename.lower()
            if not low.endswith((".xml", ".rels", ".vml")):
                continue
            is_sheet = low.startswith("xl/worksheets/") and low.endswith(".xml")
            if is_sheet or low == "xl/workbook.xml":
                blob = _member(data, i, i.file_size)
                _check_prolog(i.filename, blob[:_PROLOG_MAX])
                if is_sheet:
                    _check_extent(i.filename, blob, lim)
                else:
                    sheets = len(re.findall(rb"<(?:\w+:)?sheet\b", blob))
            else:  # a DTD can only sit in the prolog: the head is enough
                _check_prolog(i.filename, _member(data, i, min(i.file_size, _PROLOG_MAX)))
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise UnsafeWorkbookError(f"the .xlsx file is damaged or truncated ({e}); save it again and re-upload") from None
    if sheets > lim.max_sheets:
        raise UnsafeWorkbookError(f"the workbook has {sheets} sheets (limit {lim.max_sheets})")


_PROLOG_MAX = 8192  # Excel and LibreOffice write ~60 bytes before the root element
_LOCAL_HEADER = 30


def _member(data: bytes, info: zipfile.ZipInfo, limit: int) -> bytes:
    """The first `limit` uncompressed bytes of a member, straight from the zip bytes.

    Output never exceeds `limit` (<= the declared size), so a member lying about its size cannot
    make us allocate more; faster than ZipFile.read, whose per-read machinery dominates for
    dozens of small parts.
    """
    off = info.header_offset
    head = data[off:off + _LOCAL_HEADER]
    if len(head) < _LOCAL_HEADER or head[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {info.filename}")
    start = off + _LOCAL_HEADER + int.from_bytes(head[26:28], "little") + int.from_bytes(head[28:30], "little")
    raw = data[start:start + info.compress_size]
    if info.compress_type == zipfile.ZIP_STORED:
        return raw[:limit]
    if info.compress_type != zipfile.ZIP_DEFLATED:
        raise UnsafeWorkbookError(f"part {info.filename} uses an unusual compression method; save the file again "
                                  "from Excel or LibreOffice")
    return zlib.decompressobj(-15).decompress(raw, limit)
_ROOT = re.compile(rb"<[A-Za-z_]")


def _check_prolog(name: str, head: bytes) -> None:
    """Refuse DTDs/entities (only legal before the root element) and absurdly long prologs."""
    m = _ROOT.search(head)
    prolog = head[: m.start()] if m else head
    if _DTD.search(prolog) or (m is None and len(head) >= _PROLOG_MAX):
        raise UnsafeWorkbookError(f"part {name} declares a DTD/entities, which Excel never writes; "
                                  "refused (possible entity-expansion attack)")


@lru_cache(maxsize=8)
def _ref_patterns(max_rows: int, max_cols: int) -> tuple[re.Pattern[bytes], re.Pattern[bytes], re.Pattern[bytes]]:
    """Patterns that only match references that *could* exceed the limits (few digits/letters are
    always inside), so a normal sheet yields no matches and the scan stays in C: rows, columns, either."""
    row_digits = len(str(max_rows))
    col_letters = len(_col_letters(max_cols))
    rows = re.compile(rb'r="[A-Z]{0,4}(\d{%d,8})"' % row_digits)
    cols = re.compile(rb'r="([A-Z]{%d,4})\d' % col_letters)
    either = re.compile(rb'r="(?:[A-Z]{0,4}\d{%d,8}"|[A-Z]{%d,4}\d)' % (row_digits, col_letters))
    return rows, cols, either


def _col_letters(n: int) -> str:
    out = ""
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def _check_extent(name: str, blob: bytes, lim: UploadLimits) -> None:
    """Largest row/column referenced (cells, rows, the dimension tag) must stay within limits."""
    max_row = max_col = 0
    m = _DIM.search(blob)
    if m:
        for col, row in ((m.group(1), m.group(2)), (m.group(3), m.group(4))):
            if col:
                max_col = max(max_col, _col_number(col))
            if row:
                max_row = max(max_row, int(row))
    big_rows, wide_cols, suspicious = _ref_patterns(lim.max_sheet_rows, lim.max_sheet_cols)
    if suspicious.search(blob):  # one pass for the common case; the exact maxima only when needed
        rows = big_rows.findall(blob)
        if rows:
            max_row = max(max_row, max(map(int, set(rows))))
        cols = wide_cols.findall(blob)
        if cols:
            max_col = max(max_col, max(_col_number(c) for c in set(cols)))
    # rows without r= attributes still count (an upper bound: <rowBreaks> is the only other <row... tag);
    # the shortest row element is <row/>, 6 bytes, so a smaller part cannot exceed the limit that way
    if len(blob) > 6 * lim.max_sheet_rows:
        max_row = max(max_row, blob.count(b"<row") + blob.count(b":row") - blob.count(b"<rowBreaks"))
    if max_row > lim.max_sheet_rows or max_col > lim.max_sheet_cols:
        raise UnsafeWorkbookError(
            f"{name} reaches row {max_row}, column {max_col} (limits {lim.max_sheet_rows} rows, "
            f"{lim.max_sheet_cols} columns); a parameter sheet is far smaller: delete the stray cells and save again")


# --- parsing in a child process ---------------------------------------------------------

Grid = dict[str, list[list[Any]]]
# sheet -> (row0, col0) -> number format code, for the numeric cells shown as a percentage (the cell holds 0.25 for 25%)
PercentCells = dict[str, dict[tuple[int, int], str]]


def read_grid(data: bytes) -> Grid:
    """Every sheet as rows of raw calamine values, row 1 first (in this process: trusted input only)."""
    return read_workbook(data)[0]


# sheet -> (row0, col0) -> the formula text, for the cells holding a formula with no saved result (read as empty)
FormulaCells = dict[str, dict[tuple[int, int], str]]


def read_workbook(data: bytes) -> tuple[Grid, PercentCells]:
    """The grid and the percent-formatted cells, in this process (trusted input only)."""
    return read_cells(data)[:2]


def read_cells(data: bytes) -> tuple[Grid, PercentCells, FormulaCells]:
    """read_workbook, plus the cells holding a formula with no saved result (trusted input only)."""
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
    grid = {n: wb.get_sheet_by_name(n).to_python(skip_empty_area=False) for n in wb.sheet_names}
    return grid, _percent_map(percent_cells(data)), _percent_map(formula_cells(data))


def _percent_map(raw: dict[str, list[list[Any]]]) -> dict[str, dict[tuple[int, int], str]]:
    return {sheet: {(int(r), int(c)): str(code) for r, c, code in cells} for sheet, cells in raw.items()}


_SANDBOX = Path(__file__).with_name("_sandbox.py")
_OVER_LIMIT = 4  # the child's exit code for a grid above max_grid_cells / max_text_chars (_sandbox.OVER_LIMIT)
_TYPES = {"datetime": datetime.fromisoformat, "date": date.fromisoformat, "time": time.fromisoformat,
          "timedelta": lambda v: timedelta(seconds=float(v))}


def _dec(v: Any) -> Any:
    if isinstance(v, dict) and "$t" in v:
        return _TYPES[v["$t"]](v["v"])
    return v


def read_grid_sandboxed(data: bytes, limits: UploadLimits | None = None) -> Grid:
    """read_grid in a separate Python process with RLIMIT_AS and a timeout; failures -> UnsafeWorkbookError."""
    return read_workbook_sandboxed(data, limits)[0]


def read_workbook_sandboxed(data: bytes, limits: UploadLimits | None = None) -> tuple[Grid, PercentCells]:
    """read_workbook in a separate Python process (read_cells_sandboxed)."""
    return read_cells_sandboxed(data, limits)[:2]


def read_cells_sandboxed(data: bytes, limits: UploadLimits | None = None) -> tuple[Grid, PercentCells, FormulaCells]:
    """read_cells in a separate Python process with RLIMIT_AS and a timeout; failures -> UnsafeWorkbookError.

    A subprocess (not multiprocessing) so the child never re-imports the app's __main__ and a
    reader abort cannot take the web or engine process down.
    """
    lim = limits or UploadLimits.from_schema()
    try:
        proc = subprocess.run([sys.executable, "-I", str(_SANDBOX), str(lim.parse_memory_mb), str(lim.max_grid_cells),
                               str(lim.max_text_chars)], input=data,
                              capture_output=True, timeout=lim.parse_timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise UnsafeWorkbookError(f"reading the workbook took longer than {lim.parse_timeout_s:.0f} s and was "
                                  "stopped; the file is far larger or more complex than a parameter workbook") from None
    if proc.returncode == _OVER_LIMIT:
        raise UnsafeWorkbookError(f"the workbook is too large once read: {proc.stderr.decode(errors='replace')[:400]}"
                                  "; save a clean copy as .xlsx and retry")
    if proc.returncode != 0:
        why = proc.stderr.decode(errors="replace").strip().splitlines()
        detail = why[-1] if why and proc.returncode in (2, 3) else f"the reader stopped (exit code {proc.returncode})"
        raise UnsafeWorkbookError(f"the workbook could not be read: {detail}; save a clean copy as .xlsx and retry")
    if len(proc.stdout) > lim.max_grid_json_bytes:  # the child's bounds failed: never parse an unbounded answer
        raise UnsafeWorkbookError(f"the workbook reads as {len(proc.stdout) / 1e6:.0f} MB of cells (limit "
                                  f"{lim.max_grid_json_bytes / 1e6:.0f} MB); a parameter workbook is far smaller")
    raw = json.loads(proc.stdout)
    grid = {name: [[_dec(c) for c in row] for row in rows] for name, rows in raw["grid"].items()}
    return grid, _percent_map(raw["percent"]), _percent_map(raw.get("formulas") or {})
