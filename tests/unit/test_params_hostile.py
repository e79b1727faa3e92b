"""Hostile uploads are refused fast with a clear message; the test process never crashes."""
import time

import pytest

from engine.params import UnsafeWorkbookError
from engine.params.safety import UploadLimits, precheck, read_grid_sandboxed
from engine.params.testing import hostile, lying_size, sheet_member
from engine.params.workbook import import_workbook

EXPECT = {
    "not_a_zip": "not an Excel .xlsx file",
    "truncated": "damaged or truncated",
    "xls": "old .xls",
    "xlsm_macro": "macros",
    "external_link": "external links",
    "oversize": "above the 5.0 MB limit",
    "zip_bomb": "zip bomb",
    "ratio": "zip bomb",
    "members": "parts (limit 200)",
    "xxe": "DTD",
    "billion_laughs": "DTD",
    "absurd_ref": "row 1048576, column 16384",
    "absurd_dimension": "row 1048576, column 16384",
    "many_rows": "limits 5000 rows",
    "many_unnumbered_rows": "limits 5000 rows",
}


@pytest.mark.parametrize("kind", list(EXPECT))
def test_refused_by_precheck_quickly(kind):
    data = hostile(kind)
    t = time.perf_counter()
    with pytest.raises(UnsafeWorkbookError) as e:
        import_workbook(data)  # the full upload path: the pre-check must stop it before any parser
    assert time.perf_counter() - t < 2.0
    assert EXPECT[kind] in str(e.value)


def test_byte_limit_comes_from_configuration():
    small = UploadLimits.from_schema(max_upload_bytes=20_000)
    with pytest.raises(UnsafeWorkbookError, match="above the"):
        precheck(hostile("truncated"), small)


def test_sandbox_contains_a_reader_abort_when_the_precheck_is_bypassed():
    """python-calamine aborts its process on a cell at XFD1048576: only the child dies."""
    with pytest.raises(UnsafeWorkbookError, match="could not be read"):
        read_grid_sandboxed(hostile("absurd_ref"))


def test_member_lying_about_its_size_passes_precheck_but_not_the_reader():
    """Defence in depth: the pre-check trusts declared sizes (bounded reads); the child reader does not."""
    data = hostile("absurd_ref")
    bad = lying_size(data, sheet_member(data, "Summary"))
    precheck(bad)  # the stray cell sits beyond the declared 200 bytes
    with pytest.raises(UnsafeWorkbookError, match="could not be read"):
        import_workbook(bad)


def test_sandbox_time_limit():
    lim = UploadLimits.from_schema(parse_timeout_s=0.001)
    with pytest.raises(UnsafeWorkbookError, match="longer than"):
        read_grid_sandboxed(hostile("many_rows"), lim)


def test_sandbox_reports_reader_errors_as_domain_errors():
    with pytest.raises(UnsafeWorkbookError, match="could not be read"):
        read_grid_sandboxed(hostile("truncated"))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(UnsafeWorkbookError, match="file not found"):
        import_workbook(tmp_path / "nope.xlsx")
