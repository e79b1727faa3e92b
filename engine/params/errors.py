"""Domain errors of the parameter area, phrased for a trader: what, where (Sheet!Cell), what to do."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


@dataclass(frozen=True)
class ParamIssue:
    """One problem (or warning) found in a workbook or parameter set."""

    sheet: str
    cell: str  # "B5", a range "D4:D13", or "" when the problem is the whole sheet
    message: str  # what is wrong, with the value found
    expected: str = ""
    fix: str = ""
    value: Any = None
    field: str = ""  # "section.field" or "section[row].field" for programmatic use
    severity: str = "error"  # "error" | "warning"

    @property
    def where(self) -> str:
        return f"{self.sheet}!{self.cell}" if self.cell else self.sheet

    def __str__(self) -> str:
        parts = [f"{self.where}: {self.message}"]
        if self.expected:
            parts.append(f"expected {self.expected}")
        if self.fix:
            parts.append(self.fix)
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"sheet": self.sheet, "cell": self.cell, "where": self.where, "message": self.message,
                "expected": self.expected, "fix": self.fix, "value": _jsonable(self.value), "field": self.field,
                "severity": self.severity}


def _jsonable(v: Any) -> Any:
    return v if v is None or isinstance(v, bool | int | float | str) else str(v)


class ParamsError(Exception):
    """Base of every parameter-area error; the message is safe to show in the UI."""


class ValidationError(ParamsError):
    """The workbook/parameter set is invalid; `issues` lists every error at once."""

    def __init__(self, issues: list[ParamIssue]) -> None:
        self.issues = [i for i in issues if i.severity == "error"]
        n = len(self.issues)
        head = f"{n} problem{'s' if n != 1 else ''} in the parameters; nothing was changed"
        lines = [str(i) for i in self.issues[:20]]
        more = [f"... and {n - 20} more"] if n > 20 else []
        super().__init__("\n".join([head, *lines, *more]))


class UnsafeWorkbookError(ParamsError):
    """The uploaded file was refused before parsing (not an .xlsx, macros, bomb, absurd size)."""


class VersionNotFoundError(ParamsError):
    """A parameter version id that does not exist in the store."""


class StaleVersionError(ParamsError):
    """Another version became active after the caller read the one its edits are based on."""

    def __init__(self, expected: int | None, active: int | None) -> None:
        super().__init__(f"version {active} became active after you started from version {expected}; "
                         "nothing was applied: review the changes against the new version and apply again")
        self.expected, self.active = expected, active


class AnyParent(Enum):
    """The default of an `expected_parent` argument: apply on whatever version is active (None means "no version
    yet"). Here, beside StaleVersionError, so versions.py and version_rollback.py share it without a cycle."""

    ANY = "any"


ANY_PARENT = AnyParent.ANY
