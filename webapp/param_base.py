"""The version a Parameters page works on, even when it no longer validates (stored under an older schema whose
bounds were wider): shown as stored, its problems under their editors and named in the messages, so the user can
fix it with an edit, an upload or a rollback instead of meeting "1 problem in the parameters" on every click.
"""
from __future__ import annotations

from typing import Any

from engine.params import ParamIssue
from engine.params.errors import ValidationError
from engine.params.paramset import ParamSet
from engine.params.versions import get_version_unchecked
from engine.store.db import Store


def load_base(store: Store, version_id: int | None) -> ParamSet:
    """The version edits apply to (None: the active one, or the schema defaults on a fresh store), as stored when
    it no longer validates; never handed to trading (apply_version validates whatever it stores)."""
    with store.read() as s:
        return get_version_unchecked(s, version_id)[0]


def load_base_checked(store: Store, version_id: int | None) -> tuple[ParamSet, list[ParamIssue]]:
    """load_base, with the version's problems under today's schema (empty when it validates)."""
    with store.read() as s:
        return get_version_unchecked(s, version_id)


def issue_lines(issues: list[ParamIssue], limit: int = 5) -> str:
    """'TradingRisk!B8: stale_data_seconds: 3 is below the allowed range; expected ...' for the first `limit`."""
    shown = [str(i) for i in issues[:limit]]
    more = [f"and {len(issues) - limit} more"] if len(issues) > limit else []
    return " · ".join([*shown, *more])


def validation_text(exc: ValidationError, what: str) -> str:
    """A refused apply or rollback in words that name the cells, not only their count."""
    n = len(exc.issues)
    return f"{what}: {n} problem{'' if n == 1 else 's'} in the parameters, nothing was changed — {issue_lines(exc.issues)}"


def unloadable_note(version_id: Any, issues: list[ParamIssue]) -> str:
    """The banner for an active version that no longer validates under today's schema."""
    return (f"Active version {version_id} does not pass today's checks ({issue_lines(issues, 3)}). Fix the value "
            "here and Apply, upload a corrected workbook or roll back.")


def active_ref(store: Store) -> dict[str, Any]:
    """{"version_id", "hash"} of the active version, also when it no longer validates."""
    ps = load_base(store, None)
    return {"version_id": ps.version_id, "hash": ps.content_hash}
