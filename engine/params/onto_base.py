"""A workbook import applied onto a stored version: what the file lacks is kept from that version.

An import fills an absent optional sheet (TradingRisk, which RegimeDesk adds to the 31-sheet template), section or
parameter from the schema defaults; applied as it is, uploading a user's own older workbook would reset the risk
limits set since. The Parameters page's upload (webapp/param_uploads.py) and `python -m engine params import` both
apply through `onto_base`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .errors import ParamIssue
from .paramset import ParamSet, build_paramset
from .values import fill_from, filled_parts


@dataclass(frozen=True)
class OntoBase:
    """An import as it will be applied onto `base_version` (None: no version stored; the file stands alone)."""

    paramset: ParamSet | None  # None: with the kept parts the set does not validate (see errors)
    base_version: int | None
    kept: list[str]  # the parts the file lacks, kept from the base version, in words
    errors: list[ParamIssue]
    warnings: list[ParamIssue]


def onto_base(result: Any, base: ParamSet) -> OntoBase:
    """`result` (a valid ImportResult) with the parts its file lacks taken from `base` instead of the defaults."""
    ps, report = result.paramset, result.report
    parts = filled_parts(report.warnings)
    if not parts or base.version_id is None:
        return OntoBase(ps, base.version_id, [], [], list(report.warnings))
    merged, kept = fill_from(ps.schema, ps.to_canonical()["sheets"], base.to_canonical()["sheets"], parts)
    new, issues = build_paramset(ps.schema, merged)
    errors = [i for i in issues if i.severity == "error"]
    fix = f"kept the values of the active version {base.version_id}"
    warnings = [replace(i, fix=fix) if filled_parts([i]) else i for i in report.warnings]
    return OntoBase(new, base.version_id, kept, errors, warnings)
