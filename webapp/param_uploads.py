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
from engine.params.safety import UploadLimits
from engine.params.workbook import import_workbook
from engine.store.db import Store
from webapp.param_base import load_base


class UploadRefused(ParamsError):
    """The upload could not be read at all (not base64, too large, refused by the pre-check)."""


def too_large_message(max_bytes: int) -> str:
    """The one message for a file over the limit, whether a callback or the server's 413 sees it first."""
    return (f"the file is larger than the {max_bytes / 1e6:.1f} MB limit for a parameter workbook; upload the "
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

    def store_data(self, filename: str) -> dict[str, Any]:
        """What the page keeps in the browser until Apply (re-validated there)."""
        ps = self.paramset
        assert ps is not None  # only a valid upload is staged
        return {"filename": filename, "sheets": ps.to_canonical()["sheets"], "hash": ps.content_hash,
                "base_version": self.base_version, "kept": self.kept[:50]}


def onto_active(store: Store, result: Any) -> StagedUpload:
    """A valid import result applied onto the active version (engine.params.onto_base: what the file lacks keeps
    the active version's values), so uploading an older workbook never resets risk limits set since."""
    return StagedUpload(**vars(onto_base(result, load_base(store, None))))
