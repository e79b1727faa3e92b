"""Workbook quirks through the real upload path (pre-check + sandboxed read + mapping + validation): duplicate
sheets/columns (audit finding 9), percent-formatted cells (finding 12), literal _xHHHH_ text (finding 13).

Workbooks are built with openpyxl from the exported defaults; every expected value below is written by hand.
"""
import io
import re
import zipfile
from collections.abc import Callable

import pytest
from openpyxl import Workbook, load_workbook

from engine.params import ParamSet, default_params
from engine.params._sandbox import is_percent_format, percent_cells
from engine.params.exporter import export_workbook
from engine.params.safety import read_workbook
from engine.params.workbook import import_workbook


@pytest.fixture(scope="module")
def exported() -> bytes:
    return export_workbook(default_params())


def _build(src: bytes, edit: Callable[[Workbook], None]) -> bytes:
    wb = load_workbook(io.BytesIO(src))
    edit(wb)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _risk(res) -> dict:
    return res.paramset.to_canonical()["sheets"]["TradingRisk"]


# --- finding 12: percent-formatted cells --------------------------------------------------------------------------

def _percent_cells(wb: Workbook) -> None:
    ws = wb["TradingRisk"]
    for ref, value, fmt in (
        ("B24", 0.25, "0%"),          # max_cvar_pct (percent): shows 25% -> 25
        ("B18", 2.0, "0.00%"),        # max_gross_exposure_pct (percent): shows 200.00% -> 200
        ("B22", 0.0035, "0.00%"),     # atr_risk_per_trade_pct (percent): shows 0.35% -> 0.35 exactly
        ("B57", 1.2, "0%"),           # group_limits[growth].max_exposure_pct (percent, a table): 120% -> 120
        ("B21", 0.25, "0%"),          # kelly_fraction_cap (a fraction): stays 0.25
        ("B27", 0.7, "0.0%"),         # cluster_correlation_threshold (a fraction): stays 0.7
        ("B19", 7, '0"%"'),           # price_collar_pct with a literal % sign: Excel shows 7%, the cell holds 7
        ("C24", 0.25, "0%"),          # Default column of max_cvar_pct shows 25%: the schema's 25, no warning
    ):
        ws[ref] = value
        ws[ref].number_format = fmt


@pytest.mark.parametrize("sandbox", [True, False])
def test_percent_cells_are_read_as_shown_for_percent_fields_only(exported: bytes, sandbox: bool) -> None:
    res = import_workbook(_build(exported, _percent_cells), sandbox=sandbox)
    assert res.ok, [str(e) for e in res.report.errors]
    risk = _risk(res)
    main = risk["main"]
    assert main["max_cvar_pct"] == 25.0
    assert main["max_gross_exposure_pct"] == 200.0
    assert main["atr_risk_per_trade_pct"] == 0.35
    assert risk["group_limits"][0] == {"group": "growth", "max_exposure_pct": 120.0}
    assert main["kelly_fraction_cap"] == 0.25
    assert main["cluster_correlation_threshold"] == 0.7
    assert main["price_collar_pct"] == 7.0
    warned = {w.cell: str(w) for w in res.report.warnings if w.sheet == "TradingRisk"}
    assert sorted(warned) == ["B18", "B22", "B24", "B57"]
    assert "max_cvar_pct" in warned["B24"] and "shows 25%" in warned["B24"] and "read as 25" in warned["B24"]
    assert "max_exposure_pct" in warned["B57"] and "shows 120%" in warned["B57"]


def test_a_percent_shown_out_of_range_is_refused_with_the_shown_value(exported: bytes) -> None:
    """A trader who formats a cell holding 3 as a percentage sees 300%: that is what is checked (max 50)."""
    def edit(wb: Workbook) -> None:
        wb["TradingRisk"]["B4"] = 3  # daily_loss_limit_pct
        wb["TradingRisk"]["B4"].number_format = "0%"
    res = import_workbook(_build(exported, edit))
    assert not res.ok
    assert [e.cell for e in res.report.errors] == ["B4"]
    assert "300" in str(res.report.errors[0])


def test_reader_and_sandbox_agree_on_percent_cells(exported: bytes) -> None:
    _grid, pct = read_workbook(_build(exported, _percent_cells))
    # 0-based (row, column): B24 is (23, 1); the literal-% cell B19 is not a percent format
    assert pct == {"TradingRisk": {(23, 1): "0%", (17, 1): "0.00%", (21, 1): "0.00%", (56, 1): "0%",
                                   (20, 1): "0%", (26, 1): "0.0%", (23, 2): "0%"}}


@pytest.mark.parametrize(("code", "scales"), [
    ("0%", True), ("0.00%", True), ("[Red]0.0%;-0.0%", True), ('0"%"', False), ("0\\%", False),
    ("#,##0.00", False), ("General", False), ('"pct "0%', True),
])
def test_percent_format_detection(code: str, scales: bool) -> None:
    assert is_percent_format(code) is scales


def test_workbook_without_percent_formats_has_no_percent_cells(exported: bytes) -> None:
    assert read_workbook(exported)[1] == {}


# --- finding 9: duplicate sheets and columns ---------------------------------------------------------------------

def test_two_sheets_reading_as_one_are_refused_naming_both(exported: bytes) -> None:
    def edit(wb: Workbook) -> None:
        copy = wb.copy_worksheet(wb["TradingRisk"])
        copy.title = "Trading Risk"
        copy["B15"] = 5_000_000  # a loose scratch copy after the real sheet
        wb["TradingRisk"]["B15"] = 1000
        wb.create_sheet("My notes")
    res = import_workbook(_build(exported, edit))
    assert not res.ok and res.paramset is None
    assert len(res.report.errors) == 1
    err = res.report.errors[0]
    assert err.sheet == "TradingRisk" and "'TradingRisk'" in err.message and "'Trading Risk'" in err.message
    # neither copy is called "not part of the template"; a truly unknown sheet still is
    assert [w.sheet for w in res.report.warnings] == ["My notes"]


def test_a_repeated_table_column_is_refused_naming_both(exported: bytes) -> None:
    def edit(wb: Workbook) -> None:
        ws = wb["TradingRisk"]
        ws["E32"] = "Size_Multiplier"  # header row of Bias Size Multipliers is row 32, SizeMultiplier in B
        for r in range(33, 42):
            ws.cell(r, 5, 4.0)
    res = import_workbook(_build(exported, edit))
    assert not res.ok
    assert len(res.report.errors) == 1
    err = res.report.errors[0]
    assert (err.sheet, err.cell) == ("TradingRisk", "E32")
    assert "B32 'SizeMultiplier'" in err.message and "E32 'Size_Multiplier'" in err.message
    assert not [w for w in res.report.warnings if "unexpected content" in w.message]


def test_a_repeated_parameter_table_column_is_refused(exported: bytes) -> None:
    def edit(wb: Workbook) -> None:
        ws = wb["TradingRisk"]
        ws["H3"] = "value"  # header row 3: Parameter, Value, Default, Min, ... now a second Value column
        ws["H15"] = 5_000_000
    res = import_workbook(_build(exported, edit))
    assert not res.ok
    assert [(e.sheet, e.cell) for e in res.report.errors] == [("TradingRisk", "H3")]
    assert "B3 'Value'" in res.report.errors[0].message and "H3 'value'" in res.report.errors[0].message


# --- finding 13 (export): literal _xHHHH_ text ---------------------------------------------------------------------

@pytest.mark.parametrize("text", ["keep _x000D_ this", "code _x0041_", "_x005F_ itself", "a__x0041_b",
                                  "lower _x00e9_ hex", "upper _X0041_ stays"])
def test_literal_escape_like_text_survives_export_and_reimport(text: str) -> None:
    c = default_params().to_canonical()
    c["sheets"]["TradingRisk"]["bias_size_multipliers"][0]["description"] = text
    ps = ParamSet.from_canonical(c)
    back = import_workbook(export_workbook(ps))
    assert back.ok, [str(e) for e in back.report.errors]
    assert back.paramset.to_canonical()["sheets"]["TradingRisk"]["bias_size_multipliers"][0]["description"] == text
    assert back.paramset.content_hash == ps.content_hash



def test_percent_cells_found_without_cell_references(exported: bytes) -> None:
    """Some writers omit r="B24" on cells (the position in the row implies it): the same cells must be found, where
    the reader puts their values."""
    data = _build(exported, _percent_cells)
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            blob = src.read(info)
            if info.filename.startswith("xl/worksheets/"):
                blob = re.sub(rb'(<c\b[^>]*?) r="[A-Z]+\d+"', rb"\1", blob)
            out.writestr(info, blob)
    stripped = buf.getvalue()
    assert b'<c r="' not in zipfile.ZipFile(io.BytesIO(stripped)).read("xl/worksheets/sheet32.xml")
    assert percent_cells(stripped) == percent_cells(data)
    assert read_workbook(stripped)[0]["TradingRisk"] == read_workbook(data)[0]["TradingRisk"]
