"""Builders of broken and hostile workbooks, generated from the reference (no committed binaries).

Used by unit, integration and browser tests (e.g. uploading a broken workbook in the UI).
"""
from __future__ import annotations

import io
import random
import re
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

# a byte-identical copy of ../shared/reference/MR_CONFIG_STRATEGY_1.0.0.xlsx (a real user's workbook), kept in
# the repository so tests and benchmarks run in any checkout
REFERENCE = Path(__file__).resolve().parents[2] / "config" / "parameters" / "reference" / "MR_CONFIG_STRATEGY_1.0.0.xlsx"


def reference_bytes() -> bytes:
    return REFERENCE.read_bytes()


def edit_cells(data: bytes, edits: dict[str, Any], ops: Callable[[Any], None] | None = None) -> bytes:
    """Set cells by "Sheet!B5" (None clears); `ops(workbook)` may move/delete sheets or insert rows."""
    wb = load_workbook(io.BytesIO(data))
    for ref, value in edits.items():
        sheet, cell = ref.split("!")
        wb[sheet][cell].value = value
    if ops:
        ops(wb)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def rewrite_members(data: bytes, change: Callable[[str, bytes], bytes | None],
                    extra: dict[str, bytes] | None = None, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """Copy the zip, passing each member through `change` (None drops it), then add `extra` members."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as out:
        for info in src.infolist():
            blob = change(info.filename, src.read(info))
            if blob is not None:
                out.writestr(info.filename, blob)
        for name, blob in (extra or {}).items():
            out.writestr(name, blob)
    return buf.getvalue()


def sheet_member(data: bytes, sheet: str) -> str:
    """Zip member name of a sheet (via workbook.xml and its rels)."""
    z = zipfile.ZipFile(io.BytesIO(data))
    wbxml = z.read("xl/workbook.xml").decode()
    rid = re.search(rf'<sheet [^>]*name="{re.escape(sheet)}"[^>]*r:id="(rId\d+)"', wbxml)
    if rid is None:
        rid = re.search(rf'<sheet [^>]*r:id="(rId\d+)"[^>]*name="{re.escape(sheet)}"', wbxml)
    if rid is None:
        raise KeyError(f"no sheet named {sheet!r} in the workbook")
    rels = z.read("xl/_rels/workbook.xml.rels").decode()
    target = re.search(rf'<Relationship [^>]*Id="{rid.group(1)}"[^>]*Target="([^"]+)"', rels) or \
        re.search(rf'<Relationship [^>]*Target="([^"]+)"[^>]*Id="{rid.group(1)}"', rels)
    if target is None:
        raise KeyError(f"no relationship {rid.group(1)} for sheet {sheet!r}")
    t = target.group(1).lstrip("/")
    return t if t.startswith("xl/") else f"xl/{t}"


def libreoffice_booleans(data: bytes) -> bytes:
    """Imitate a LibreOffice re-save: booleans become =TRUE()/=FALSE() formulas with cached values."""
    def change(name: str, blob: bytes) -> bytes:
        if not name.startswith("xl/worksheets/"):
            return blob
        return re.sub(rb'(<c r="[A-Z]+\d+"[^>]*t="b"[^>]*>)<v>([01])</v>',
                      lambda m: m.group(1) + (b"<f>TRUE()</f>" if m.group(2) == b"1" else b"<f>FALSE()</f>")
                      + b"<v>" + m.group(2) + b"</v>", blob)
    return rewrite_members(data, change)


# --- hostile files ------------------------------------------------------------------------

def hostile(kind: str, base: bytes | None = None) -> bytes:
    """A refused upload of the given kind, built from `base` (default: the reference workbook)."""
    data = base or reference_bytes()
    first = sheet_member(data, "Summary")
    if kind == "not_a_zip":
        return b"Parameter,Value\natr_period,14\n"
    if kind == "truncated":
        return data[: len(data) // 2]
    if kind == "xls":
        return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 2000
    if kind == "xlsm_macro":
        def ct(name: str, blob: bytes) -> bytes:
            if name == "[Content_Types].xml":
                return blob.replace(b"spreadsheetml.sheet.main+xml", b"sheet.macroEnabled.main+xml")
            return blob
        return rewrite_members(data, ct, {"xl/vbaProject.bin": b"\xcc" * 512})
    if kind == "external_link":
        return rewrite_members(data, lambda n, b: b, {"xl/externalLinks/externalLink1.xml": b"<externalLink/>"})
    if kind == "oversize":
        return data + b"\0" * 6_000_000
    if kind == "zip_bomb":  # one member of 60 MB of spaces: ratio ~1000:1
        return rewrite_members(data, lambda n, b: b, {"xl/media/padding.xml": b" " * 60_000_000})
    if kind == "ratio":  # 20 MB of zeros in one member: under the size limit, far over the ratio limit
        return rewrite_members(data, lambda n, b: b, {"xl/media/zeros.xml": b"0" * 20_000_000})
    if kind == "members":
        return rewrite_members(data, lambda n, b: b, {f"xl/media/m{i}.xml": b"<a/>" for i in range(400)})
    def body(b: bytes) -> bytes:
        return b.split(b"?>", 1)[1] if b.lstrip().startswith(b"<?xml") else b

    if kind == "xxe":
        dtd = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        return rewrite_members(data, lambda n, b: dtd + body(b) if n == first else b)
    if kind == "billion_laughs":
        lol = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
               + b"".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i else "&lol;" * 10}">'.encode()
                          for i in range(9)) + b"]>")
        return rewrite_members(data, lambda n, b: lol + body(b) if n == first else b)
    if kind in ("absurd_ref", "absurd_dimension", "many_rows", "many_unnumbered_rows"):
        def big(name: str, blob: bytes) -> bytes:
            if name != first:
                return blob
            if kind == "absurd_ref":
                return blob.replace(b"</sheetData>",
                                    b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
                                    b"</sheetData>")
            if kind == "absurd_dimension":
                tag = b'<dimension ref="A1:XFD1048576"/>'
                if b"<dimension" in blob:
                    return re.sub(rb'<dimension ref="[^"]*"\s*/>', tag, blob)
                return re.sub(rb"(<sheetViews|<sheetFormatPr|<cols|<sheetData)", tag + rb"\1", blob, count=1)
            if kind == "many_unnumbered_rows":  # no r= attributes: rows count by position
                rng = random.Random(7)  # varied heights, so the part does not also trip the compression ratio
                rows = b"".join(b'<row ht="%d"/>' % rng.randrange(10**9) for _ in range(20_000))
            else:
                rows = b"".join(b'<row r="%d"><c r="A%d"><v>1</v></c></row>' % (i, i) for i in range(10, 20010))
            return blob.replace(b"</sheetData>", rows + b"</sheetData>")
        return rewrite_members(data, big)
    raise ValueError(f"unknown hostile kind {kind!r}")


def lying_size(data: bytes, member: str, fake: int = 200) -> bytes:
    """Make a member declare a tiny uncompressed size (local and central headers) while holding more."""
    z = zipfile.ZipFile(io.BytesIO(data))
    info = z.getinfo(member)
    b = bytearray(data)
    struct.pack_into("<I", b, info.header_offset + 22, fake)
    pos = 0
    while (pos := bytes(b).find(b"PK\x01\x02", pos)) >= 0:
        nlen = struct.unpack_from("<H", b, pos + 28)[0]
        if bytes(b[pos + 46:pos + 46 + nlen]).decode() == member:
            struct.pack_into("<I", b, pos + 24, fake)
        pos += 4
    return bytes(b)


HOSTILE_KINDS = ("not_a_zip", "truncated", "xls", "xlsm_macro", "external_link", "oversize", "zip_bomb", "ratio",
                 "members", "xxe", "billion_laughs", "absurd_ref", "absurd_dimension", "many_rows",
                 "many_unnumbered_rows")
