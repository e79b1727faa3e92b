"""Parameter workbook uploads (Parameters and Regime pages): dcc.Upload's data URL bounded and decoded, then the
pre-check for hostile files, the parse in a limited child process, mapping and validation (engine.params).
webapp/param_views.py re-exports these names.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any

from engine.params.errors import ParamsError
from engine.params.safety import UploadLimits
from engine.params.workbook import import_workbook


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
