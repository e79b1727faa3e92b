"""A small upload that reads as a huge grid is refused inside the sandboxed child (audit 2, defect 1).

Why: one 1,500-character shared string referenced by 300,000 cells is a 0.9 MB .xlsx that passes every byte-level
pre-check, and the child used to hand the web process ~450 MB of JSON to json.loads (73 MB -> 1.4 GB). The files
are built by hand here (plain zip + XML), so the expectation does not depend on the code under test.
"""
from __future__ import annotations

import io
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from engine.params import safety
from engine.params.errors import UnsafeWorkbookError
from engine.params.safety import UploadLimits
from engine.params.workbook import import_workbook

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = Path("/work/shared/reference/MR_CONFIG_STRATEGY_1.0.0.xlsx")
NS = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
REL = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _col(n: int) -> bytes:
    out = b""
    while n:
        n, rem = divmod(n - 1, 26)
        out = bytes([65 + rem]) + out
    return out


def amplified_xlsx(text_len: int = 1500, rows: int = 4999, cols: int = 60) -> bytes:
    """One sheet 'Summary' whose every cell references shared string 0 (`text_len` characters)."""
    letters = [_col(c) for c in range(1, cols + 1)]
    body = b"".join(b'<row r="%d">' % r + b"".join(b'<c r="%s%d" t="s"><v>0</v></c>' % (lt, r) for lt in letters)
                    + b"</row>" for r in range(1, rows + 1))
    sheet = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet ' + NS + b'><dimension ref="A1:%s%d"/><sheetData>'
             % (letters[-1], rows) + body + b"</sheetData></worksheet>")
    parts = {
        "[Content_Types].xml": b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
        b'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        b'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook'
        b'.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
        b'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml'
        b'.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
        b'officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        "_rels/.rels": b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        b'package/2006/relationships"><Relationship Id="rId1" Type="' + REL + b'/officeDocument" Target="xl/workbook.xml"'
        b'/></Relationships>',
        "xl/workbook.xml": b'<?xml version="1.0" encoding="UTF-8"?><workbook ' + NS + b' xmlns:r="' + REL + b'"><sheets>'
        b'<sheet name="Summary" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
        b'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="' + REL + b'/worksheet" Target="'
        b'worksheets/sheet1.xml"/><Relationship Id="rId2" Type="' + REL + b'/sharedStrings" Target="sharedStrings.xml"/>'
        b'</Relationships>',
        "xl/worksheets/sheet1.xml": sheet,
        "xl/sharedStrings.xml": b'<?xml version="1.0" encoding="UTF-8"?><sst ' + NS + b' count="1" uniqueCount="1"><si>'
        b"<t>" + b"abcdefghij" * (text_len // 10) + b"</t></si></sst>",
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return out.getvalue()


@pytest.fixture(scope="module")
def amplified(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("amplify") / "amplified.xlsx"
    p.write_bytes(amplified_xlsx())
    return p


def test_amplified_grid_refused_quickly_naming_limit_and_sheet(amplified: Path) -> None:
    data = amplified.read_bytes()
    assert len(data) < 1_500_000  # the point: small on disk, passes the byte-level pre-check
    safety.precheck(data)
    t = time.perf_counter()
    with pytest.raises(UnsafeWorkbookError) as e:
        import_workbook(data)
    assert time.perf_counter() - t < 10.0
    assert "5,000,000 characters" in str(e.value) and "'Summary'" in str(e.value)


def test_parent_memory_stays_small(amplified: Path) -> None:
    """Peak RSS of a fresh process running the upload path (the child's memory is not counted in it).

    VmHWM, not ru_maxrss: Linux carries the forking process's RSS into an exec'd child's ru_maxrss, so under a
    busy pytest worker ru_maxrss reports the worker's size."""
    code = ("import sys\nfrom engine.params.workbook import import_workbook\n"
            "from engine.params.errors import UnsafeWorkbookError\n"
            "try:\n    import_workbook(sys.argv[1]); print('accepted')\n"
            "except UnsafeWorkbookError as e:\n    print('refused', repr(str(e)[:200]))\n"
            "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM:')][0]\n"
            "print(int(hwm.split()[1]) // 1024)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(amplified)], cwd=ROOT, capture_output=True, text=True,
                          timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    verdict, peak = proc.stdout.strip().splitlines()
    assert verdict.startswith("refused") and "characters" in verdict, verdict
    assert int(peak) < 400, f"parent peak RSS {peak} MB"  # was 1,368 MB


def test_the_child_hands_back_nothing_when_refused(amplified: Path) -> None:
    proc = subprocess.run([sys.executable, "-I", str(ROOT / "engine/params/_sandbox.py"), "1536", "500000", "5000000"],
                          input=amplified.read_bytes(), capture_output=True, timeout=60, check=False)
    assert proc.returncode == 4 and proc.stdout == b""
    assert b"5,000,000 characters" in proc.stderr


def test_cell_bound_names_the_limit() -> None:
    with pytest.raises(UnsafeWorkbookError) as e:
        import_workbook(REFERENCE, limits=UploadLimits.from_schema(max_grid_cells=1_000))
    assert "above the limit of 1,000 cells" in str(e.value)


def test_text_bound_names_the_limit() -> None:
    with pytest.raises(UnsafeWorkbookError) as e:
        import_workbook(REFERENCE, limits=UploadLimits.from_schema(max_text_chars=10_000))
    assert "limit of 10,000 characters" in str(e.value)


def test_reference_workbook_still_imports_without_errors() -> None:
    res = import_workbook(REFERENCE)
    assert res.ok and res.report.errors == []


def test_parent_refuses_an_oversized_answer_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: even if a child ignored its bounds, an answer above the bound is never json.loads'ed."""
    lim = UploadLimits.from_schema(max_grid_cells=10, max_text_chars=10)
    huge = b"[" + b"0," * lim.max_grid_json_bytes + b"0]"
    monkeypatch.setattr(safety.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, huge, b""))
    monkeypatch.setattr(safety.json, "loads", lambda *_a, **_k: pytest.fail("parsed an unbounded answer"))
    with pytest.raises(UnsafeWorkbookError, match="MB of cells"):
        safety.read_grid_sandboxed(b"x", lim)
