"""Cell values and messages found by audit 2 (defects 2, 3, 4, 6, 7, 8).

Expected cells and texts are read from the reference workbook with openpyxl or written by hand, never taken from
the code under test.
"""
from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest

from engine.params.catalog import apply_edits
from engine.params.coerce import CoerceError, coerce
from engine.params.exporter import export_workbook
from engine.params.paramset import ParamSet, default_params
from engine.params.schema import load_schema
from engine.params.workbook import import_workbook
from webapp import param_views as pv

REFERENCE = "/work/shared/reference/MR_CONFIG_STRATEGY_1.0.0.xlsx"
MC, RC = "MasterConfiguration", "RegimeClassification"


def _ref_cell(sheet: str, label: str, col: str = "B") -> str:
    """The reference workbook's cell beside the label `label` in column A."""
    ws = openpyxl.load_workbook(REFERENCE)[sheet]
    row = next(c.row for c in ws["A"] if c.value == label)
    return f"{sheet}!{col}{row}"


def _mutated(change: Callable[[Any], None]) -> bytes:
    wb = openpyxl.load_workbook(REFERENCE)
    change(wb)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _field(sheet: str, name: str) -> Any:
    return next(f for sh, _sec, f in load_schema().iter_fields() if sh.name == sheet and f.name == name)


# --- defect 2: control characters ---------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["abc\x01def", "esc\x1b[31mred", "x\x00y"])
def test_control_character_refused_naming_the_cell(text: str) -> None:
    res = apply_edits(default_params(), values={("Summary", "main", "validation_source"): text})
    assert not res.ok
    [issue] = res.issues
    assert f"{issue.sheet}!{issue.cell}" == _ref_cell("Summary", "Validation Source:")
    assert "control character" in issue.message


def test_control_character_refused_when_typed_in_the_editor() -> None:
    base = default_params()
    with pytest.raises(pv.EditsRefused, match="control character"):
        pv.merge_edit(load_schema(), pv.origin_sheets(base, None), {}, "Summary|main|validation_source", "a\x01b")


def test_tab_and_newline_still_accepted_and_exported() -> None:
    res = apply_edits(default_params(), values={("Summary", "main", "validation_source"): "tab\there"})
    assert res.ok and res.paramset is not None
    export_workbook(res.paramset)


def test_export_never_fails_on_an_unvalidated_control_character() -> None:
    base = default_params()
    values = {k: dict(v) for k, v in base._values.items()}
    values["Summary"]["main"] = dict(values["Summary"]["main"], validation_source="a\x01b")
    data = export_workbook(ParamSet(values, base.schema))  # raised IllegalCharacterError
    ws = openpyxl.load_workbook(io.BytesIO(data))["Summary"]
    assert "a\ufffdb" in [c.value for row in ws.iter_rows() for c in row]


# --- defect 3: Excel error texts stay text ------------------------------------------------------------------
@pytest.mark.parametrize("text", ["#N/A", "#REF!", "#DIV/0!", "#VALUE!", "#NAME?", "#NUM!", "#NULL!"])
def test_error_code_text_round_trips(text: str) -> None:
    res = apply_edits(default_params(), values={("Summary", "main", "validation_source"): text})
    assert res.ok and res.paramset is not None
    data = export_workbook(res.paramset)
    ws = openpyxl.load_workbook(io.BytesIO(data))["Summary"]
    [cell] = [c for row in ws.iter_rows() for c in row if c.value == text]
    assert cell.data_type == "s"
    back = import_workbook(data)
    assert back.ok and back.paramset == res.paramset


# --- defects 4, 7, 8: numbers ---------------------------------------------------------------------------------
def test_huge_int_is_a_refusal_naming_the_cell() -> None:
    res = apply_edits(default_params(), values={(MC, "main", "target_daily_transitions"): 10**400})
    assert not res.ok
    assert f"{res.issues[0].sheet}!{res.issues[0].cell}" == _ref_cell(MC, "target_daily_transitions")


def test_huge_int_in_the_editor_is_a_validation_issue() -> None:
    base = default_params()
    edits = pv.merge_edit(load_schema(), pv.origin_sheets(base, None), {}, f"{MC}|main|target_daily_transitions",
                          10**400)
    ps, issues = pv.validate_candidate(load_schema(), pv.candidate_sheets(base, edits))
    assert ps is None and issues


@pytest.mark.parametrize("text", ["1_0", "0_5", "1_000", "\u0661\u0662", "\uff11\uff10", "1\u0660"])
@pytest.mark.parametrize("name", ["target_daily_transitions", "atr_period"])
def test_underscores_are_not_numbers(text: str, name: str) -> None:
    f = _field(MC if name == "target_daily_transitions" else "ATRIndicatorsConfig", name)
    with pytest.raises(CoerceError):
        coerce(f, text)


@pytest.mark.parametrize("raw, shown", [(10**30, "1" + "0" * 30), ("1e30", "'1e30'"), (2**63, "9223372036854775808")])
def test_huge_whole_numbers_shown_as_typed(raw: Any, shown: str) -> None:
    res = apply_edits(default_params(), values={("ATRIndicatorsConfig", "main", "atr_period"): raw})
    assert not res.ok
    text = str(res.issues[0])
    assert shown in text and "from 7 to 21" in text
    assert "19884624838656" not in text and "9223372036854779904" not in text


# --- defect 6: a deleted required parameter row --------------------------------------------------------------
def test_deleted_parameter_row_is_an_error_naming_sheet_and_key() -> None:
    def blank(wb: Any) -> None:
        ws = wb[MC]
        row = next(c.row for c in ws["A"] if c.value == "target_daily_transitions")
        for cell in ws[row]:
            cell.value = None

    res = import_workbook(_mutated(blank))
    assert not res.ok
    hits = [i for i in res.report.errors if "target_daily_transitions" in str(i)]
    assert len(hits) == 1 and hits[0].sheet == MC and "missing" in hits[0].message


# --- defect 8: messages pointing at the right thing ----------------------------------------------------------
def _delete_column(header: str) -> Callable[[Any], None]:
    def change(wb: Any) -> None:
        ws = wb[RC]
        ws.delete_cols(next(c.column for c in ws[1] if c.value == header))
    return change


def test_deleted_column_reported_once_not_per_row() -> None:
    res = import_workbook(_mutated(_delete_column("MinDuration")))
    about = [str(i) for i in res.report.errors if "MinDuration" in str(i)]
    assert about == [f"{RC}: column MinDuration is missing from sheet {RC}; expected a column headed MinDuration; "
                     "add the column back (see the template)"]
    assert not [e for e in res.report.errors if "cell is empty" in str(e)]


def test_row_label_is_the_key_text() -> None:
    res = import_workbook(_mutated(lambda wb: setattr(wb[RC]["C4"], "value", None)))
    [err] = res.report.errors
    assert str(err).startswith(f"{RC}!C4: VolatilityClass of row 'Strong_Bullish_Low_Vol': the cell is empty")


@pytest.mark.parametrize("cells, named", [
    ({(RC, "main", -1, "regime_name"): "X"}, "-1"),
    ({(RC, "main", 18, "regime_name"): "X"}, "18"),
    ({(RC, "main", True, "regime_name"): "X"}, "True"),
    ({(RC, "main", 0, "nope"): "X"}, "'nope'"),
    ({("Nope", "main", 0, "x"): 1}, "'Nope'"),
])
def test_apply_edits_refuses_cells_it_cannot_name(cells: dict[tuple[str, str, int, str], Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        apply_edits(default_params(), cells=cells)


def test_apply_edits_refuses_unknown_sheet_and_parameter() -> None:
    with pytest.raises(ValueError, match="'Nope'"):
        apply_edits(default_params(), values={("Nope", "main", "x"): 1})
    with pytest.raises(ValueError, match="'nope'"):
        apply_edits(default_params(), values={(MC, "main", "nope"): 1})
