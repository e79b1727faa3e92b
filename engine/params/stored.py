"""A stored version's values as stored: for versions written under an older schema, which may lack a sheet or no
longer validate. Why apart from versions.py: the engine trades only on validated versions (versions.py); these
helpers serve diffs, rollbacks and the web page that shows such a version so it can be fixed.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from engine.store.models import ParamVersion

from .coerce import CONTROL_CHARS
from .errors import ParamIssue, ValidationError
from .paramset import ParamSet
from .schema import Schema, load_schema
from .values import build_values, fill_from, missing_parts

log = logging.getLogger(__name__)
Loader = Callable[[ParamVersion], ParamSet]  # versions._to_paramset: validated, memoised


def printable(value: Any) -> Any:
    """`value` with control characters in its texts replaced by U+FFFD (as the exporter writes them): edits refuse
    them now, but a version stored before that must still load, or the engine would have no active parameters."""
    if isinstance(value, str):
        return CONTROL_CHARS.sub("\ufffd", value)
    if isinstance(value, dict):
        return {k: printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [printable(v) for v in value]
    return value


def stored_sheets(row: ParamVersion) -> dict[str, Any]:
    """The canonical sheets exactly as stored (only what that release's schema had)."""
    d = printable(json.loads(row.values_json))
    sheets = d.get("sheets", d) if isinstance(d, dict) else {}
    return sheets if isinstance(sheets, dict) else {}


def unchecked_paramset(row: ParamVersion, schema: Schema | None = None) -> ParamSet:
    """A version that no longer validates, its invalid values kept as stored: to diff against it, or to show it in
    the editor with its problems so it can be fixed. Never handed to trading (apply_version re-validates)."""
    schema = schema or load_schema()
    values, _issues = build_values(schema, stored_sheets(row), keep_invalid=True)
    return ParamSet(values, schema, row.id)


def loaded_or_unchecked(row: ParamVersion, load: Loader) -> tuple[ParamSet, list[ParamIssue]]:
    """The version validated, or (when it no longer validates) as stored with its problems."""
    try:
        return load(row), []
    except ValidationError as e:
        log.warning("parameter version %s no longer validates under the current schema: %s", row.id,
                    "; ".join(str(i) for i in e.issues[:3]))
        return unchecked_paramset(row), e.issues


def rollback_values(target: ParamVersion, active: ParamVersion | None, load: Loader) -> tuple[ParamSet, list[str]]:
    """The values a rollback to `target` makes active: the target's; where the target (stored under an older schema)
    lacks a sheet, section or parameter, the active version's values for it, not the schema defaults (a rollback
    must not silently loosen risk limits the target never had). Returns them and the parts kept, in words.
    Raises ValidationError (naming the cells) when the result does not validate."""
    sheets = stored_sheets(target)
    schema = load_schema()
    parts = missing_parts(schema, sheets)
    if not parts or active is None:
        return load(target), []
    current = loaded_or_unchecked(active, load)[0].to_canonical()["sheets"]
    merged, kept = fill_from(schema, sheets, current, parts)
    return ParamSet.from_canonical(merged, schema=schema), kept
