"""What an import found: counts a trader can check against the workbook, warnings and errors."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ParamIssue
from .paramset import ParamSet


@dataclass
class ImportReport:
    """Counts a trader can check against the workbook, plus every warning and error."""

    sheets: int = 0
    sections: int = 0
    rows: int = 0
    values_mapped: int = 0  # Value cells of kv sections + table cells
    metadata_cells: int = 0  # Default/Min/Max/Unit/Description/Options columns of kv sections
    structure_cells: int = 0  # titles and headers
    notes_cells: int = 0
    unmapped_cells: int = 0
    used_params: int = 0
    unused_params: int = 0
    errors: list[ParamIssue] = field(default_factory=list)
    warnings: list[ParamIssue] = field(default_factory=list)

    @property
    def cells_total(self) -> int:
        return (self.values_mapped + self.metadata_cells + self.structure_cells + self.notes_cells
                + self.unmapped_cells)

    def summary_lines(self) -> list[str]:
        return [f"sheets: {self.sheets}", f"sections: {self.sections}", f"rows: {self.rows}",
                f"values mapped: {self.values_mapped}",
                f"cells: {self.cells_total} (values {self.values_mapped}, metadata {self.metadata_cells}, "
                f"titles/headers {self.structure_cells}, notes {self.notes_cells}, unmapped {self.unmapped_cells})",
                f"parameters used by the engine: {self.used_params}, not used: {self.unused_params}",
                f"warnings: {len(self.warnings)}", f"errors: {len(self.errors)}"]

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("sheets", "sections", "rows", "values_mapped", "metadata_cells",
                                           "structure_cells", "notes_cells", "unmapped_cells", "cells_total",
                                           "used_params", "unused_params")}
        d["errors"] = [i.to_dict() for i in self.errors]
        d["warnings"] = [i.to_dict() for i in self.warnings]
        return d


@dataclass
class ImportResult:
    paramset: ParamSet | None
    report: ImportReport

    @property
    def ok(self) -> bool:
        return self.paramset is not None and not self.report.errors
