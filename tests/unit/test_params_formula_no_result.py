"""A formula saved without its result (a workbook written by openpyxl or pandas) is named as a formula, not as
"the cell is empty" (audit3, defect 3); the same formula with its saved result (as Excel stores it) imports its
value. Both readers: in this process and the sandboxed child."""
from __future__ import annotations

import io
import re
import zipfile

import pytest
from openpyxl import load_workbook

from engine.params.exporter import export_workbook
from engine.params.paramset import default_params
from engine.params.workbook import import_workbook


def _with_formula(formula: str) -> bytes:
    wb = load_workbook(io.BytesIO(export_workbook(default_params())))
    wb["MasterConfiguration"]["B6"] = formula  # target_daily_transitions, a required number from 1 to 5
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _with_saved_result(data: bytes, result: str) -> bytes:
    """Every empty <v/> after a formula filled with `result`, as Excel saves it."""
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            blob = src.read(info)
            if info.filename.startswith("xl/worksheets/"):
                blob = re.sub(rb"(</f>)<v\s*/>|(</f>)<v>\s*</v>|(</f>)(</c>)",
                              lambda m: (m.group(1) or m.group(2) or m.group(3)) + b"<v>" + result.encode() + b"</v>"
                              + (m.group(4) or b""), blob)
            dst.writestr(info, blob)
    return out.getvalue()


@pytest.mark.parametrize("sandbox", [False, True])
def test_formula_without_result_is_named(sandbox: bool) -> None:
    res = import_workbook(_with_formula("=2+1"), sandbox=sandbox)
    assert not res.ok
    texts = [str(e) for e in res.report.errors]
    assert texts == ["MasterConfiguration!B6: target_daily_transitions: the cell holds a formula (=2+1) with no saved "
                     "value; expected a number from 1 to 5; open the workbook in Excel or LibreOffice and save it "
                     "(that stores each formula's value), or type the value instead of the formula"]


@pytest.mark.parametrize("sandbox", [False, True])
def test_formula_with_saved_result_imports_the_result(sandbox: bool) -> None:
    res = import_workbook(_with_saved_result(_with_formula("=2+1"), "3"), sandbox=sandbox)
    assert res.ok, [str(e) for e in res.report.errors]
    assert res.paramset is not None
    assert res.paramset.sheet("MasterConfiguration").target_daily_transitions == 3.0
