"""Parameter workbook uploads (Parameters and Regime pages): dcc.Upload's data URL bounded and decoded, then the
pre-check for hostile files, the parse in a limited child process, mapping and validation (engine.params).
webapp/param_views.py re-exports these names.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from engine.params.errors import ParamsError
from engine.params.onto_base import OntoBase, onto_base
from engine.params.paramset import build_paramset
from engine.params.safety import UploadLimits
from engine.params.schema import Schema
from engine.params.values import fill_from, filled_parts
from engine.params.workbook import import_workbook
from engine.store.db import Store
from webapp import param_rows
from webapp.byte_sizes import size_text
from webapp.param_base import load_base


class UploadRefused(ParamsError):
    """The upload could not be read at all (not base64, too large, refused by the pre-check)."""


def too_large_message(max_bytes: int) -> str:
    """The one message for a file over the limit, whether a callback or the server's 413 sees it first."""
    return (f"the file is larger than the {size_text(max_bytes)} limit for a parameter workbook; upload the "
            ".xlsx exported from this page or the template")


def decode_upload(contents: str, max_bytes: int) -> bytes:
    """dcc.Upload's data URL -> bytes, bounded before decoding the whole string."""
    _head, _sep, b64 = (contents or "").partition(",")
    if len(b64) > (max_bytes * 4) // 3 + 8:
        raise UploadRefused(too_large_message(max_bytes))
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise UploadRefused("the upload arrived damaged; try again") from None


def import_upload(contents: str, max_bytes: int, *, sandbox: bool = True) -> Any:
    """Pre-check (hostile files), parse in a limited child, map and validate: an ImportResult."""
    data = decode_upload(contents, max_bytes)
    limits = UploadLimits.from_schema(max_upload_bytes=max_bytes)
    return import_workbook(data, limits=limits, sandbox=sandbox)


@dataclass(frozen=True)
class StagedUpload(OntoBase):
    """An upload as it will be applied, checked against the active version (`base_version`)."""

    parts: tuple[tuple[str, str | None, str | None], ...] = ()  # what the file lacks (taken from base_version)

    def store_data(self, filename: str) -> dict[str, Any]:
        """What the page keeps in the browser until Apply (re-validated there). `parts` lets restage take what the
        file lacks from a newer active version without the file."""
        ps = self.paramset
        assert ps is not None  # only a valid upload is staged
        return {"filename": filename, "sheets": ps.to_canonical()["sheets"], "hash": ps.content_hash,
                "base_version": self.base_version, "kept": self.kept[:50], "parts": [list(p) for p in self.parts]}


def onto_active(store: Store, result: Any) -> StagedUpload:
    """A valid import result applied onto the active version (engine.params.onto_base: what the file lacks keeps
    the active version's values), so uploading an older workbook never resets risk limits set since."""
    return StagedUpload(**vars(onto_base(result, load_base(store, None))),
                        parts=tuple(filled_parts(result.report.warnings)))


def restage(store: Store, schema: Schema, upload: dict[str, Any]) -> dict[str, Any] | None:
    """The pending upload checked again against the active version, as uploading the file once more would: what
    the file lacks now comes from the active version. None when that cannot be done without the file (staged by an
    older page that did not keep `parts`) or the result does not validate (the caller says: upload it again)."""
    sheets, parts = upload.get("sheets"), upload.get("parts")
    if not isinstance(sheets, dict):
        return None
    if parts is None and upload.get("kept"):
        return None
    wanted = [(p[0], p[1], p[2]) for p in parts or [] if isinstance(p, list | tuple) and len(p) == 3]
    base = load_base(store, None)
    merged, kept = fill_from(schema, sheets, base.to_canonical()["sheets"], wanted) if wanted else (sheets, [])
    try:
        ps, issues = build_paramset(schema, merged)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if ps is None or any(i.severity == "error" for i in issues):
        return None
    return {**upload, "sheets": ps.to_canonical()["sheets"], "hash": ps.content_hash,
            "base_version": base.version_id, "kept": kept[:50], "parts": [list(p) for p in wanted]}


def carry_edits(schema: Schema, before: dict[str, Any], after: dict[str, Any],
                edits: Any) -> tuple[dict[str, Any], list[str], list[str]]:
    """Pending edits moved from `before` (the sheets they were made on) onto a new upload's sheets `after`.

    Why carry them: a trader who typed a tighter limit and then uploads the desk workbook means both; silently
    losing the typed limit is the worse surprise, and Discard still drops everything at once. Where the file also
    changed a cell an edit touches, the edit wins (it is the newer intent) and is named. Returns (edits kept, why
    each other one was dropped (its row is not in the file), the cells both changed, in words)."""
    kept, dropped = param_rows.live_edits(schema, after, edits)
    if not kept:
        return {}, dropped, []
    try:
        old, new = param_rows.resolve(schema, before, kept), param_rows.resolve(schema, after, kept)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return kept, dropped, []
    both: list[str] = []
    for key in kept:
        parts = key.split("|")
        try:
            if len(parts) == 3:
                a, b = before[parts[0]][parts[1]].get(parts[2]), after[parts[0]][parts[1]].get(parts[2])
                where = _header(schema, parts[0], parts[1], parts[2])
            elif len(parts) == 4 and key in old.cells and key in new.cells:
                (s, sec, r0, f), r1 = old.cells[key], new.cells[key][2]
                a, b = old.sheets[s][sec][r0].get(f), new.sheets[s][sec][r1].get(f)
                where = f"{_header(schema, s, sec, f)} of {param_rows.row_name(schema, key)}"
            elif len(parts) == 2:
                a, b = before[parts[0]].get(parts[1]), after[parts[0]].get(parts[1])
                where = f"{parts[0]}: the rows you added or deleted"
            else:
                continue
        except (KeyError, IndexError, TypeError, AttributeError):
            continue
        if a != b:
            both.append(where)
    return kept, dropped, both


def _header(schema: Schema, sheet: str, section: str, name: str) -> str:
    try:
        return f"{sheet}: {schema.sheet(sheet).section(section).field(name).header}"
    except KeyError:
        return f"{sheet}: {name}"
