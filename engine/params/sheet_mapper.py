"""One sheet's cells onto its schema sheet: sections found by their titles and headers, every
non-empty cell accounted for (a value, schema metadata, structure, or a reported problem).

The import's hot path: keep allocations out of the per-cell loops (see bench/bench_params.py).
"""
from __future__ import annotations

import difflib
import math
import re
from decimal import Decimal
from functools import lru_cache
from typing import Any

from .coerce import CoerceError, coerce, fmt_value
from .errors import ParamIssue
from .layout import cell
from .report import ImportReport
from .schema import SectionSpec, SheetSpec

_NORM = re.compile(r"[\s_:]+")


@lru_cache(maxsize=4096)
def norm_key(s: Any) -> str:
    """Header/name comparison key: case, spaces, underscores and colons ignored."""
    return _NORM.sub("", str(s)).lower()


def _text(v: Any) -> str:
    return v.strip() if isinstance(v, str) else ("" if v is None else str(v))


def _hundredfold(v: Any) -> Any:
    """What a percent-formatted number shows (0.25 shows 25%), in decimal (0.07 -> 7.0, not 7.000000000000001);
    anything but a finite number is returned as it is."""
    return float(Decimal(repr(v)) * 100) if v.__class__ in (int, float) and math.isfinite(v) else v


def _nonblank(row: list[Any]) -> list[tuple[int, Any]]:
    """(column, value) of the non-empty cells, strings stripped; one comprehension (the import's hottest loop)."""
    return [(c, s) for c, v in enumerate(row)
            if (s := (v.strip() if v.__class__ is str else v)) != "" and s is not None]


class SheetMapper:
    """Maps one sheet's grid; collects raw values, cell locations and issues."""

    def __init__(self, spec: SheetSpec, grid: list[list[Any]], report: ImportReport, name_in_file: str,
                 percent: dict[tuple[int, int], str] | None = None):
        self.spec, self.grid, self.report, self.fname = spec, grid, report, name_in_file
        self.percent = percent or {}  # (row0, col0) -> number format of the cells shown as a percentage
        self.dup_cols: set[int] = set()  # columns of the last header row that repeat an earlier column
        # non-blank cells per row, strings stripped: computed once, every search below reuses it
        self.cells: list[list[tuple[int, Any]]] = [_nonblank(row) for row in grid]
        self._norms: dict[int, set[str]] = {}
        self.used: set[tuple[int, int]] = set()  # (row0, col0) cells accounted for
        self.full_rows: set[int] = set()  # rows whose every cell is accounted for
        self.loc: dict[tuple[str, int | None, str], tuple[int, int]] = {}  # kv -> (row, col), 1-based
        self.row_at: dict[tuple[str, int], int] = {}  # (table section, row index) -> sheet row, 1-based
        self.col_at: dict[tuple[str, str], int] = {}  # (table section, column name) -> sheet column
        self.issues: list[ParamIssue] = []
        self.raw: dict[str, Any] = {}

    # --- helpers -----------------------------------------------------------------------
    def norms(self, r: int) -> set[str]:
        """Normalised texts of row r (for title/header search), computed on first use."""
        got = self._norms.get(r)
        if got is None:
            got = self._norms[r] = {norm_key(v) for _c, v in self.cells[r] if isinstance(v, str)}
        return got

    def row_cells(self, r: int) -> list[tuple[int, Any]]:
        return self.cells[r]

    def first_text(self, r: int) -> str:
        cells = self.row_cells(r)
        return _text(cells[0][1]) if cells else ""

    def mark_row(self, r: int, kind: str) -> None:
        if r in self.full_rows:
            return
        n = sum(1 for c, _v in self.cells[r] if (r, c) not in self.used)
        self.full_rows.add(r)
        setattr(self.report, kind, getattr(self.report, kind) + n)

    def issue(self, r: int, c: int, msg: str, expected: str = "", fix: str = "", value: Any = None,
              path: str = "", severity: str = "error") -> None:
        self.issues.append(ParamIssue(self.spec.name, cell(r + 1, c + 1), msg, expected, fix, value, path, severity))

    def as_shown(self, f: Any, v: Any, r: int, c: int) -> Any:
        """A percent-formatted cell holds a fraction (25% is 0.25) while a field in percent means 25: the trader
        typed and sees 25%, so read 25, with a warning naming the cell. Fraction fields never come here."""
        if (shown := _hundredfold(v)) is not v:
            n = fmt_value(f, shown)
            self.issue(r, c, f"{f.name}: the cell is formatted as a percentage ({self.percent[(r, c)]}) and shows {n}%,"
                       f" so it was read as {n} (this parameter is in percent; the cell holds {v!r})", "",
                       f"format the cell as a plain number and type {n}", v, f.name, "warning")
        return shown

    def find_title(self, text: str, start: int) -> int | None:
        want = norm_key(text)
        for r in range(start, len(self.grid)):
            if len(self.cells[r]) == 1 and want in self.norms(r):
                return r
        return None

    def find_header(self, headers: list[str], start: int) -> int | None:
        want = [norm_key(h) for h in headers]
        for r in range(start, len(self.grid)):
            got = self.norms(r)
            if want[0] in got and sum(w in got for w in want) >= max(2, (len(want) * 3 + 4) // 5):
                return r
        return None

    # --- main --------------------------------------------------------------------------
    def run(self) -> None:
        spec = self.spec
        pos = 0
        if spec.title:
            t = self.find_title(spec.title, 0)
            if t is not None:
                self.mark_row(t, "structure_cells")
                pos = t + 1
        # (section, title row, header row, first data row); sections keep their order in the sheet
        anchors: list[tuple[SectionSpec, int | None, int | None, int]] = []
        for sec in spec.sections:
            trow = self.find_title(sec.title, pos) if sec.title else None
            if sec.kind == "notes" and trow is None:
                continue  # documentation block removed by the user: nothing to map
            hrow = None
            if sec.kind != "notes" and sec.header:
                hdrs = [c.header for c in sec.columns] if sec.kind == "kv" else [f.header for f in sec.fields]
                hrow = self.find_header(hdrs, trow + 1 if trow is not None else pos)
                if hrow is None:
                    self.issues.append(ParamIssue(
                        spec.name, "", f"section {sec.title or 'table'} not found: no header row with "
                        + ", ".join(hdrs), "the header row as in the template",
                        "restore the header row (download the template to compare)",
                        severity="warning" if spec.optional else "error"))
                    continue
            data_start = hrow + 1 if hrow is not None else (trow + 1 if trow is not None else pos)
            anchors.append((sec, trow, hrow, data_start))
            pos = data_start
        for i, (sec, trow, hrow, start) in enumerate(anchors):
            if i + 1 < len(anchors):
                _n, nt, nh, ns = anchors[i + 1]
                end = min(x for x in (nt, nh, ns) if x is not None)
            else:
                end = len(self.grid)
            if trow is not None:
                self.mark_row(trow, "structure_cells")
            self.report.sections += 1
            if sec.kind == "notes":
                for r in range(start, end):
                    self.mark_row(r, "notes_cells")
            elif sec.kind == "kv":
                self.map_kv(sec, hrow, start, end)
            else:
                self.map_table(sec, hrow, start, end)
        for r in range(len(self.grid)):
            if r in self.full_rows:
                continue
            for c, v in self.cells[r]:
                if (r, c) not in self.used:
                    self.report.unmapped_cells += 1
                    self.issue(r, c, f"unexpected content {_text(v)[:40]!r} outside the template's sections was ignored",
                               severity="warning", value=v)

    def columns(self, hrow: int | None, headers: list[str]) -> dict[str, int]:
        """header text (as in the schema) -> 0-based column in this file."""
        if hrow is None:
            return {h: i for i, h in enumerate(headers)}
        found: dict[str, list[tuple[int, str]]] = {}
        for c, v in self.row_cells(hrow):
            if isinstance(v, str):
                found.setdefault(norm_key(v), []).append((c, v))
        self.mark_row(hrow, "structure_cells")
        self.dup_cols = set()
        for h in headers:
            same = found.get(norm_key(h), [])
            if len(same) > 1:  # which column the trader meant is unknowable: refuse rather than let one win
                self.dup_cols.update(c for c, _v in same[1:])
                self.issue(hrow, same[1][0], f"the {h} column appears {len(same)} times: "
                           + " and ".join(f"{cell(hrow + 1, c + 1)} {v!r}" for c, v in same)
                           + " (headers are compared without case, spaces or underscores)", f"one {h} column",
                           "delete or rename the extra column, then upload again")
        return {h: found[norm_key(h)][0][0] for h in headers if norm_key(h) in found}

    def map_kv(self, sec: SectionSpec, hrow: int | None, start: int, end: int) -> None:
        roles = {c.role: c.header for c in sec.columns} if sec.header else {"key": "Label", "value": "Value"}
        cols = self.columns(hrow, list(roles.values()))
        kcol, vcol = cols.get(roles["key"]), cols.get(roles.get("value", ""))
        if kcol is None or vcol is None:
            self.issue(hrow or 0, 0, f"{sec.title or 'parameter table'}: the Parameter or Value column is missing",
                       "columns " + ", ".join(roles.values()), "restore the column headers")
            return
        by_name = {}
        for field in sec.fields:
            by_name[norm_key(field.name)] = field
            by_name[norm_key(field.header)] = field
        col_role = {c: ro for ro, h in roles.items() if (c := cols.get(h)) is not None}
        checks_metadata = any(ro in ("min", "max", "default") for ro in col_role.values())
        report = self.report
        out: dict[str, Any] = {}
        for r in range(start, end):
            row = self.cells[r]
            if not row:
                continue
            cells = dict(row)
            key = cells.get(kcol)  # cells hold stripped, non-blank values: absent means an empty key cell
            if key is None:
                continue
            key = _text(key)
            f = by_name.get(norm_key(key))
            if f is None:
                close = difflib.get_close_matches(key, [x.name for x in sec.fields], n=1)
                self.issue(r, kcol, f"unknown parameter {key!r}", "a parameter of this sheet",
                           f"did you mean {close[0]}?" if close else "remove the row or check the spelling", key)
                self.mark_row(r, "unmapped_cells")
                continue
            if f.name in out:
                self.issue(r, kcol, f"parameter {f.name} appears twice", "each parameter once",
                           "delete one of the rows", key)
                self.mark_row(r, "unmapped_cells")
                continue
            out[f.name] = cells.get(vcol, "")
            if self.percent and f.unit == "percent" and (r, vcol) in self.percent:
                out[f.name] = self.as_shown(f, out[f.name], r, vcol)
            self.loc[(sec.key, None, f.name)] = (r + 1, vcol + 1)
            report.rows += 1
            self.full_rows.add(r)
            report.values_mapped += vcol in cells
            report.structure_cells += 1  # the key cell
            report.metadata_cells += len(cells) - 1 - (vcol in cells)
            if checks_metadata:
                for c, v in cells.items():
                    role = col_role.get(c)
                    if role in ("min", "max", "default") and c != vcol and c != kcol:
                        if (r, c) in self.percent and f.unit == "percent":  # the column shows what it says
                            v = _hundredfold(v)
                        self.check_metadata(f, role, v, r, c)
        self.raw[sec.key] = out

    def check_metadata(self, f: Any, role: str | None, v: Any, r: int, c: int) -> None:
        """Bounds and defaults come from the schema; say so when the file's columns disagree."""
        if role not in ("min", "max", "default") or f.type not in ("number", "integer", "boolean", "enum", "time"):
            return
        if role in ("min", "max") and f.type not in ("number", "integer"):
            return
        want = f.default if role == "default" else getattr(f, role)
        if want is None or v == want or (isinstance(v, str) and isinstance(want, str) and v.lower() == want.lower()):
            return
        try:
            got = coerce(f, v)
            same = got == coerce(f, want)
        except CoerceError:
            same = False
        if not same:
            self.issue(r, c, f"{f.name}: the {role.capitalize()} column says {_text(v)!r}, but the schema's "
                       f"{role} is {fmt_value(f, want)}", "", f"the schema's {role} applies; change it in the app's "
                       "schema, not in the workbook", v, f.name, "warning")

    def map_table(self, sec: SectionSpec, hrow: int | None, start: int, end: int) -> None:
        cols = self.columns(hrow, [f.header for f in sec.fields])
        # a column missing from the file is left out of every row: values.build_values reports it once
        # ("column X is missing from sheet S"), not as an empty cell per row at cells that hold another column
        known = set(cols.values()) | self.dup_cols  # a repeated column is reported once by columns(), not per cell
        fcols = [(f.name, cols.get(f.header)) for f in sec.fields]
        for name, c in fcols:
            if c is not None:
                self.col_at[(sec.key, name)] = c + 1
        names = [name for name, c in fcols if c is not None]
        idx = [c for _name, c in fcols if c is not None]
        last_col = max(idx, default=-1)
        blank_row = dict.fromkeys(names, "")
        rows: list[dict[str, Any]] = []
        for r in range(start, end):
            cells = self.cells[r]
            if not cells:
                continue
            extra = [c for c, _v in cells if c not in known]
            if len(extra) == len(cells):
                continue  # nothing in the table's columns: reported as unmapped at the end
            i = len(rows)
            # straight from the grid row, in C: blank cells are "" there, and coerce() strips text itself
            grow = self.grid[r]
            row = dict(blank_row)
            row.update(zip(names, map(grow.__getitem__, idx), strict=True) if last_col < len(grow)
                       else [(n, grow[c] if c < len(grow) else "") for n, c in zip(names, idx, strict=True)])
            rows.append(row)
            self.row_at[(sec.key, i)] = r + 1
            if extra:
                for c, _v in cells:
                    if c in known:
                        self.used.add((r, c))
            else:
                self.full_rows.add(r)
            self.report.values_mapped += len(cells) - len(extra)
            self.report.rows += 1
        if self.percent:
            shown = [(f, c) for f in sec.fields if f.unit == "percent" and (c := cols.get(f.header)) is not None]
            for i, row in enumerate(rows):
                r = self.row_at[(sec.key, i)] - 1
                for f, c in shown:
                    if (r, c) in self.percent:
                        row[f.name] = self.as_shown(f, row[f.name], r, c)
        self.raw[sec.key] = rows
