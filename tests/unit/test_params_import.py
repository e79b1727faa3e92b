"""Import of the reference workbook, round trips through export, and tolerance of real-file variations."""
import io
import re
import zipfile
from datetime import time
from pathlib import Path

import pytest
from openpyxl import load_workbook

from engine.params import ParamSet, default_params
from engine.params.exporter import export_template, export_workbook
from engine.params.importer import import_grid
from engine.params.safety import read_grid
from engine.params.testing import edit_cells, libreoffice_booleans, reference_bytes
from engine.params.workbook import import_workbook


def _imp(data: bytes):
    return import_grid(read_grid(data))


@pytest.fixture(scope="module")
def ref() -> bytes:
    return reference_bytes()


def test_reference_imports_with_zero_errors_and_every_cell_mapped(ref):
    res = _imp(ref)
    r = res.report
    assert res.ok and r.errors == []
    assert (r.sheets, r.sections, r.rows) == (31, 40, 467)
    assert r.cells_total == 3085 and r.unmapped_cells == 0
    assert r.values_mapped == 1522
    assert r.used_params + r.unused_params == 420  # schema fields incl. the TradingRisk sheet
    # the only warning: the TradingRisk sheet we added is absent from the user's file
    assert [w.sheet for w in r.warnings] == ["TradingRisk"]
    assert res.paramset == default_params()


def test_reference_through_the_sandbox_gives_the_same_set(ref):
    res = import_workbook(ref)  # pre-check + child process
    assert res.ok and res.paramset.content_hash == default_params().content_hash


def test_export_then_import_is_identical(ref):
    ps = default_params()
    back = _imp(export_workbook(ps))
    assert back.ok and back.report.warnings == []
    assert back.paramset.content_hash == ps.content_hash


def test_round_trip_of_an_edited_set_with_formula_like_text():
    c = default_params().to_canonical()
    c["sheets"]["ATRIndicatorsConfig"]["main"]["atr_period"] = 21
    c["sheets"]["RegimeClassification"]["main"][0]["description"] = "=HYPERLINK(\"http://x\")"
    c["sheets"]["TransitionRules"]["main"][0]["description"] = "@SUM(A1)"
    c["sheets"]["IntradaySettings"]["main"][0]["description"] = "-1 bad idea"
    ps = ParamSet.from_canonical(c)
    data = export_workbook(ps)
    z = zipfile.ZipFile(io.BytesIO(data))
    assert not any(b"<f>" in z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/"))
    ws = load_workbook(io.BytesIO(data))["RegimeClassification"]
    assert ws["H2"].data_type == "s" and ws["H2"].quotePrefix
    back = _imp(data)
    assert back.ok and back.paramset.content_hash == ps.content_hash


def test_default_template_export_has_reference_layout(ref):
    wb = load_workbook(io.BytesIO(export_template()))
    refwb = load_workbook(io.BytesIO(ref))
    assert wb.sheetnames[:31] == refwb.sheetnames and wb.sheetnames[31] == "TradingRisk"
    rc = wb["RegimeClassification"]
    assert rc["A22"].value == "Volatility Thresholds" and rc["A23"].value == "Class" and rc["B24"].value == 0
    assert wb["MasterConfiguration"]["A3"].value == "Parameter" and wb["MasterConfiguration"]["B13"].value == "09:15"
    assert wb["ATRIndicatorsConfig"]["B2"].value == 14


def test_tolerates_order_blank_rows_spaces_and_number_forms(ref):
    def ops(wb):
        wb.move_sheet("RegimeClassification", offset=-10)  # sheet order
        wb["RegimeClassification"].insert_rows(21, 3)  # extra blank rows between sections
        ws = wb["StabilityConfiguration"]  # swap the Value and Default columns
        for row in ws.iter_rows(min_row=1, max_row=ws.max_row, min_col=2, max_col=3):
            row[0].value, row[1].value = row[1].value, row[0].value

    data = edit_cells(ref, {
        "ATRIndicatorsConfig!B2": "14.0",  # 3.0 for 3
        "ATRIndicatorsConfig!B4": " true ",  # spaces and case
        "ATRIndicatorsConfig!B5": 1,  # 1 for TRUE
        "ATRIndicatorsConfig!B3": "ema",  # enum case
        "MasterConfiguration!B13": "9:15",
        "MasterConfiguration!B14": time(15, 30),  # a real Excel time cell instead of text
        "IntradaySettings!B2": time(9, 0),
    }, ops)
    res = _imp(data)
    assert res.ok, [str(e) for e in res.report.errors]
    assert res.paramset.content_hash == default_params().content_hash


def test_libreoffice_style_boolean_formulas_with_cached_values():
    data = libreoffice_booleans(export_workbook(default_params()))
    z = zipfile.ZipFile(io.BytesIO(data))
    assert b"<f>TRUE()</f>" in z.read("xl/worksheets/sheet2.xml")
    res = _imp(data)
    assert res.ok and res.paramset.content_hash == default_params().content_hash


LIBREOFFICE = Path(__file__).resolve().parents[1] / "data" / "libreoffice"  # re-saved by LibreOffice 7.4.7.2


@pytest.mark.parametrize("name", ["reference_resaved.xlsx", "export_resaved.xlsx"])
def test_workbooks_resaved_by_real_libreoffice_import_unchanged(name):
    """Files converted with `soffice --headless --convert-to xlsx` (see tests/data/libreoffice/README.md)."""
    data = (LIBREOFFICE / name).read_bytes()
    assert b"LibreOffice" in zipfile.ZipFile(io.BytesIO(data)).read("docProps/app.xml")
    res = import_workbook(data)  # the upload path: pre-check and sandboxed reader included
    assert res.ok, [str(e) for e in res.report.errors]
    assert res.paramset.content_hash == default_params().content_hash


def test_value_edited_then_resaved_by_libreoffice_is_read():
    res = import_workbook((LIBREOFFICE / "edited_resaved.xlsx").read_bytes())
    assert res.ok, [str(e) for e in res.report.errors]
    atr = res.paramset.sheet("ATRIndicatorsConfig")
    assert (atr.atr_period, atr.atr_smoothing) == (9, "SMA")


def test_missing_optional_sheet_is_a_warning_but_missing_required_sheet_is_an_error(ref):
    res = _imp(edit_cells(ref, {}, lambda wb: wb.remove(wb["NoiseFiltering"])))
    assert not res.ok
    assert any(e.sheet == "NoiseFiltering" and "missing" in e.message for e in res.report.errors)


def test_unknown_sheet_and_stray_cells_are_reported_not_fatal(ref):
    def ops(wb):
        wb.create_sheet("MyNotes")["A1"] = "hello"
        wb["ATRIndicatorsConfig"]["K40"] = "stray"

    res = _imp(edit_cells(ref, {}, ops))
    assert res.ok
    where = {w.where for w in res.report.warnings}
    assert "MyNotes" in where and "ATRIndicatorsConfig!K40" in where


def test_metadata_columns_that_disagree_with_the_schema_warn(ref):
    res = _imp(edit_cells(ref, {"ATRIndicatorsConfig!E2": 30}))  # the Max column of atr_period
    assert res.ok
    assert any(w.where == "ATRIndicatorsConfig!E2" and "max" in w.message for w in res.report.warnings)


def test_report_counts_are_stable_text(ref):
    lines = _imp(ref).report.summary_lines()
    assert any(re.match(r"values mapped: \d+", line) for line in lines)
