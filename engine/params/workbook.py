"""Workbook in, ParamSet out: the one entry point for uploads, the CLI and tests.

Order matters: pre-check the bytes (no parser yet), parse in a limited child process, then map
and validate. Nothing is stored here; applying a version is engine.params.versions' job.
"""
from __future__ import annotations

from pathlib import Path

from .errors import UnsafeWorkbookError, ValidationError
from .importer import ImportResult, import_grid
from .paramset import ParamSet
from .safety import UploadLimits, precheck, read_cells, read_cells_sandboxed
from .schema import Schema


def read_source(source: bytes | str | Path, limits: UploadLimits | None = None) -> bytes:
    if isinstance(source, bytes | bytearray):
        return bytes(source)
    p = Path(source)
    lim = limits or UploadLimits.from_schema()
    try:
        size = p.stat().st_size
        if size > lim.max_upload_bytes:
            raise UnsafeWorkbookError(f"{p.name} is {size / 1e6:.1f} MB, above the "
                                      f"{lim.max_upload_bytes / 1e6:.1f} MB limit for a parameter workbook")
        return p.read_bytes()
    except FileNotFoundError:
        raise UnsafeWorkbookError(f"file not found: {p}") from None
    except IsADirectoryError:
        raise UnsafeWorkbookError(f"{p} is a folder, not a workbook") from None


def import_workbook(source: bytes | str | Path, *, schema: Schema | None = None,
                    limits: UploadLimits | None = None, sandbox: bool = True) -> ImportResult:
    """Pre-check, parse (in a child process unless sandbox=False), map and validate.

    Raises UnsafeWorkbookError for refused files; validation problems are in result.report.errors.
    """
    lim = limits or UploadLimits.from_schema()
    data = read_source(source, lim)
    precheck(data, lim)
    grid, percent, formulas = read_cells_sandboxed(data, lim) if sandbox else read_cells(data)
    return import_grid(grid, schema, percent=percent, formulas=formulas)


def load_workbook_params(source: bytes | str | Path, **kw) -> ParamSet:
    """The ParamSet of a valid workbook; raises ValidationError (all problems) or UnsafeWorkbookError."""
    res = import_workbook(source, **kw)
    if not res.ok:
        raise ValidationError(res.report.errors)
    assert res.paramset is not None
    return res.paramset
