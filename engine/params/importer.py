"""Map a workbook's cells onto the schema: find sections by their titles/headers, not fixed rows.

Why by content: real files move (sheet order, column order, extra blank rows, a re-save by
LibreOffice); the schema says what each section looks like, and every non-empty cell must end
up either as a value, as schema metadata, as structure (title/header) or as a reported problem.
"""
from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from .errors import ParamIssue
from .layout import cell, field_cell, sheet_layout
from .paramset import build_paramset
from .report import ImportReport, ImportResult
from .schema import Schema, load_schema
from .sheet_mapper import SheetMapper, norm_key

Grid = dict[str, list[list[Any]]]
PercentCells = dict[str, dict[tuple[int, int], str]]  # sheet -> (row0, col0) -> percent number format


def match_sheets(schema: Schema, names: list[str]) -> tuple[dict[str, str], list[str]]:
    """schema sheet name -> name in the file (case/space-insensitive, the first of several); and unknown sheets."""
    by_norm: dict[str, str] = {}
    for n in names:
        by_norm.setdefault(norm_key(n), n)
    found = {sh.name: by_norm[norm_key(sh.name)] for sh in schema.sheets if norm_key(sh.name) in by_norm}
    matched = {norm_key(n) for n in found.values()}
    unknown = [n for n in names if norm_key(n) not in matched]
    return found, unknown


def duplicate_sheets(schema: Schema, names: list[str]) -> list[ParamIssue]:
    """An error per template sheet that two sheets of the file both match (TradingRisk and "Trading Risk"): which
    one the trader meant is unknowable, and applying either silently could loosen a limit."""
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(norm_key(n), []).append(n)
    out = []
    for sh in schema.sheets:
        same = groups.get(norm_key(sh.name), [])
        if len(same) > 1:
            out.append(ParamIssue(sh.name, "", "the workbook has " + " and ".join(repr(n) for n in same)
                                  + f" sheets, which all read as the {sh.name} sheet (names are compared without "
                                  "case, spaces or underscores)", f"one {sh.name} sheet",
                                  "delete or rename the copy that must not be applied, then upload again"))
    return out


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The import builds thousands of small, acyclic dicts and tuples: cyclic GC passes over them are pure cost
    (about 5% of the import). Re-enabled only if it was enabled, so nested or concurrent imports are safe."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def import_grid(grid: Grid, schema: Schema | None = None, *, percent: PercentCells | None = None,
                formulas: PercentCells | None = None) -> ImportResult:
    """Map + coerce + validate a parsed workbook; all problems at once, no partial result. `percent`: the cells
    formatted as a percentage (engine.params.safety.read_workbook), read as shown for fields in percent.
    `formulas`: the cells holding a formula with no saved result (read as empty; safety.read_cells)."""
    with _gc_paused():
        res = _import_grid(grid, schema or load_schema(), percent or {})
    if formulas and res.report.errors:
        found = match_sheets(schema or load_schema(), list(grid))[0]
        res.report.errors = [_formula_issue(i, formulas.get(found.get(i.sheet, ""), {})) for i in res.report.errors]
    return res


EMPTY_CELL = "the cell is empty"  # engine.params.coerce's message for a blank required cell
_A1 = re.compile(r"^([A-Z]{1,3})(\d{1,7})$")


def _formula_issue(i: ParamIssue, formulas: dict[tuple[int, int], str]) -> ParamIssue:
    """An "empty" cell that holds a formula with no saved result (a workbook written by a script): say so, since
    the trader sees a formula there, not a blank cell."""
    m = _A1.match(i.cell.split(":")[0]) if i.message.endswith(EMPTY_CELL) and formulas else None
    if m is None:
        return i
    col = 0
    for ch in m.group(1):
        col = col * 26 + ord(ch) - 64
    text = formulas.get((int(m.group(2)) - 1, col - 1))
    if text is None:
        return i
    return replace(i, message=i.message.removesuffix(EMPTY_CELL) + f"the cell holds a formula ({text}) with no "
                   "saved value",
                   fix="open the workbook in Excel or LibreOffice and save it (that stores each formula's value), "
                       "or type the value instead of the formula")


def _import_grid(grid: Grid, schema: Schema, percent: PercentCells) -> ImportResult:
    report = ImportReport()
    found, unknown = match_sheets(schema, list(grid))
    raw: dict[str, Any] = {}
    locs: dict[str, SheetMapper] = {}
    issues: list[ParamIssue] = duplicate_sheets(schema, list(grid))
    for n in unknown:
        issues.append(ParamIssue(n, "", "sheet is not part of the template and was ignored", severity="warning"))
    for sh in schema.sheets:
        fname = found.get(sh.name)
        if fname is None:
            continue
        m = SheetMapper(sh, grid[fname], report, fname, percent.get(fname))
        m.run()
        report.sheets += 1
        raw[sh.name] = m.raw
        locs[sh.name] = m
        issues.extend(m.issues)

    def locate(sheet: str, section: str, row: int | None, fname: str) -> str:
        m = locs.get(sheet)
        if m is not None:
            got = m.loc.get((section, row, fname))
            if got:
                return cell(*got)
            r, c = m.row_at.get((section, row or 0)), m.col_at.get((section, fname))
            if r and c:
                return cell(r, c)
            if (section, fname) not in m.col_at and any(k[0] == section for k in m.col_at):
                return ""  # a table column the file lacks: the template's cell holds another column there
        try:
            counts = {k: len(v) for k, v in raw.get(sheet, {}).items() if isinstance(v, list)}
            return field_cell(sheet_layout(schema.sheet(sheet), counts)[section], fname, row)
        except (KeyError, StopIteration):
            return ""

    ps, more = build_paramset(schema, raw, locate=locate, missing_sheet="error")
    issues.extend(more)
    report.errors = [i for i in issues if i.severity == "error"]
    report.warnings = [i for i in issues if i.severity != "error"]
    report.used_params, report.unused_params = schema.used_counts
    return ImportResult(ps if not report.errors else None, report)
