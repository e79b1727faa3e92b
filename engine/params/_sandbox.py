"""Child-process reader for untrusted workbooks: stdin = .xlsx bytes, stdout = JSON {"grid", "percent", "formulas"}.

Run as a script (`python -I _sandbox.py MEMORY_MB [MAX_GRID_CELLS MAX_TEXT_CHARS]`): it must not depend on the
app's __main__ or on engine imports, so a reader crash or abort only kills this process. engine.params.safety
imports percent_cells from here for trusted, in-process reads (stdlib only, so that import is harmless).

Why the grid bounds: a small file can make a huge grid (one long shared string referenced by every cell of a
sheet: 0.9 MB on disk, 450 MB of JSON); RLIMIT_AS only protects this process, the parent would json.loads it all.
Both bounds are checked before any grid is built, so a refusal (exit 4, the reason on stderr) hands back nothing.
"""
import io
import json
import posixpath
import re
import resource
import sys
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

OVER_LIMIT = 4  # exit code: the workbook exceeds a grid bound; stderr holds the message for the user


class OverLimit(Exception):
    """The parsed grid would exceed a bound; the message names the limit and the sheet."""


def _enc(v):
    if isinstance(v, datetime):
        return {"$t": "datetime", "v": v.isoformat()}
    if isinstance(v, date):
        return {"$t": "date", "v": v.isoformat()}
    if isinstance(v, time):
        return {"$t": "time", "v": v.isoformat()}
    if isinstance(v, timedelta):
        return {"$t": "timedelta", "v": v.total_seconds()}
    return v


def check_bounds(wb, max_cells, max_text):
    """Refuse (OverLimit) before materialising any grid: cells of the grids as read (blanks included, summed over
    sheets) and characters of text (summed), one row at a time so the check itself stays small."""
    cells = chars = 0
    for name in wb.sheet_names:
        sheet = wb.get_sheet_by_name(name)
        end = sheet.end
        cells += (end[0] + 1) * (end[1] + 1) if end else 0
        if cells > max_cells:
            raise OverLimit(f"sheet {name[:40]!r} brings the workbook to {cells:,} cells, above the limit of "
                            f"{max_cells:,} cells; a parameter workbook has a few thousand: delete the stray cells")
        for row in sheet.iter_rows():
            chars += sum(len(v) for v in row if isinstance(v, str))
            if chars > max_text:
                raise OverLimit(f"sheet {name[:40]!r} brings the workbook's text above the limit of {max_text:,} "
                                "characters; a parameter workbook has about 35,000: delete the long texts")


# --- number formats: calamine gives values only; a cell formatted as a percentage shows 100x its value ---------
_PCT_BUILTIN = {9: "0%", 10: "0.00%"}  # Excel's built-in percent formats (numFmtId)
_LITERAL = re.compile(r'"[^"]*"|\\.|\[[^\]]*\]')  # quoted text, escaped characters, [colour]/[$locale] blocks
_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(row|c)\b([^>]*)>")
_ATTR = re.compile(rb"""(?<![\w:])(r|s|t)\s*=\s*["']([^"']*)["']""")
_REF = re.compile(rb"([A-Z]{0,3})(\d{0,9})")  # matches any text, maybe with both groups empty


def is_percent_format(code: str) -> bool:
    """Excel scales by 100 for a % outside quotes, backslash escapes and [...] blocks (0"%" shows a literal %)."""
    return "%" in _LITERAL.sub("", code)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _small_int(text: str | bytes) -> bool:
    """ASCII digits int() takes quickly (a hostile file may hold 5,000 digits or a superscript two)."""
    return 0 < len(text) < 10 and text.isascii() and text.isdigit()


def _percent_styles(zf: zipfile.ZipFile) -> dict[int, str]:
    """cellXfs index -> format code, for the styles whose number format is a percentage."""
    try:
        root = ET.fromstring(zf.read("xl/styles.xml"))
    except KeyError:
        return {}
    codes = dict(_PCT_BUILTIN)
    for el in root.iter():
        if _local(el.tag) == "numFmt" and _small_int(fid := el.get("numFmtId", "")):
            codes[int(fid)] = el.get("formatCode", "")
    out: dict[int, str] = {}
    for xfs in (el for el in root if _local(el.tag) == "cellXfs"):
        for i, xf in enumerate(x for x in xfs if _local(x.tag) == "xf"):
            fid = xf.get("numFmtId", "0")
            code = codes.get(int(fid)) if _small_int(fid) else None
            if code and is_percent_format(code):
                out[i] = code
    return out


def _sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """sheet name -> its part in the zip (xl/worksheets/sheetN.xml), via workbook.xml and its relationships."""
    rels = {el.get("Id"): el.get("Target", "") for el in ET.fromstring(zf.read("xl/_rels/workbook.xml.rels")).iter()
            if _local(el.tag) == "Relationship"}
    out = {}
    for el in ET.fromstring(zf.read("xl/workbook.xml")).iter():
        if _local(el.tag) != "sheet":
            continue
        rid = next((v for k, v in el.attrib.items() if k.startswith("{") and _local(k) == "id"), None)
        target = rels.get(rid)
        if target:
            out[el.get("name", "")] = (target.lstrip("/") if target.startswith("/")
                                       else posixpath.normpath(posixpath.join("xl", target)))
    return out


def _sheet_blobs(zf: zipfile.ZipFile) -> Iterator[tuple[str, bytes]]:
    """(sheet name, its XML) for each sheet whose part the zip holds (a missing part is skipped, as Excel does)."""
    for name, part in _sheet_parts(zf).items():
        try:
            yield name, zf.read(part)
        except KeyError:
            continue


def _col0(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n - 1


def _cell_tags(blob: bytes) -> Iterator[tuple[re.Match[bytes], dict[bytes, bytes], int, int]]:
    """Each <c> tag of a sheet part with its attributes and 0-based (row, col): a row or cell without an `r`
    reference follows the previous one, as Excel reads it."""
    row, col = -1, -1
    for m in _TAG.finditer(blob):
        attrs = dict(_ATTR.findall(m.group(2)))
        ref = _REF.match(attrs.get(b"r", b""))
        letters, digits = (ref.group(1), ref.group(2)) if ref else (b"", b"")
        if m.group(1) == b"row":
            row, col = (int(digits) - 1 if digits else row + 1), -1
            continue
        col = _col0(letters) if letters else col + 1
        if digits:
            row = int(digits) - 1
        yield m, attrs, row, col


def percent_cells(data: bytes) -> dict[str, list[list]]:
    """{sheet: [[row0, col0, format code], ...]}: the numeric cells shown as a percentage (25% holds 0.25).

    Only percent formats travel: they are the ones that change what a number means to the trader who typed it.
    A workbook without a percent style (the reference, anything the app exports) costs one read of styles.xml."""
    zf = zipfile.ZipFile(io.BytesIO(data))
    styles = _percent_styles(zf)
    if not styles:
        return {}
    out: dict[str, list[list]] = {}
    for name, blob in _sheet_blobs(zf):
        found = []
        for _m, attrs, row, col in _cell_tags(blob):
            s = attrs.get(b"s", b"0")
            if _small_int(s) and int(s) in styles and attrs.get(b"t", b"n") == b"n":
                found.append([row, col, styles[int(s)]])
        if found:
            out[name] = found
    return out


_CELL_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?c>")
_FORMULA = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f\b[^>]*?(?:/>|>([^<]*)<)")
_VALUE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?v\b[^>]*>\s*[^<\s]")


def formula_cells(data: bytes) -> dict[str, list[list]]:
    """{sheet: [[row0, col0, formula text], ...]}: the cells holding a formula but no saved result.

    A workbook written by a script (openpyxl, pandas) stores formulas without their results; the reader then sees
    an empty cell, and the import would say "the cell is empty" about a cell the trader sees a formula in."""
    zf = zipfile.ZipFile(io.BytesIO(data))
    out: dict[str, list[list]] = {}
    for name, blob in _sheet_blobs(zf):
        if not _FORMULA.search(blob):
            continue
        found = []
        for m, _attrs, row, col in _cell_tags(blob):
            if m.group(2).rstrip().endswith(b"/"):
                continue  # <c .../>: no formula
            end = _CELL_END.search(blob, m.end())
            body = blob[m.end():end.start() if end else m.end()]
            f = _FORMULA.search(body)
            if f and not _VALUE.search(body):
                found.append([row, col, "=" + (f.group(1) or b"").decode("utf-8", "replace")[:60]])
        if found:
            out[name] = found
    return out


def main() -> int:
    mem = int(sys.argv[1]) * 1024 * 1024
    max_cells = int(sys.argv[2]) if len(sys.argv) > 2 else 500_000
    max_text = int(sys.argv[3]) if len(sys.argv) > 3 else 5_000_000
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    data = sys.stdin.buffer.read()
    try:
        from python_calamine import CalamineWorkbook

        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        check_bounds(wb, max_cells, max_text)
        grid = {n: [[_enc(c) for c in row] for row in wb.get_sheet_by_name(n).to_python(skip_empty_area=False)]
                for n in wb.sheet_names}
        percent = percent_cells(data)
        formulas = formula_cells(data)
    except OverLimit as e:
        sys.stderr.write(str(e))
        return OVER_LIMIT
    except MemoryError:
        sys.stderr.write("ran out of memory while reading")
        return 3
    except Exception as e:  # calamine's own error types: report their text
        sys.stderr.write(f"{type(e).__name__}: {e}"[:300])
        return 2
    sys.stdout.write(json.dumps({"grid": grid, "percent": percent, "formulas": formulas}, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
