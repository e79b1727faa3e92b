"""Record numbers picked in a form (a parameter version, a backtest run, a tuning proposal, an order's row).

Why one place: a picker's value arrives as JSON any client can forge. `int()` alone accepts "²" (str.isdigit
says yes, int() then fails with a Python message), 1.5 (silently 1) and numbers past the store's 64-bit
columns (an SQL driver error). Every picked id goes through parse_id, whose refusal names the field as the
page shows it, so the caller can turn it into its own message and change nothing.
"""
from __future__ import annotations

import re
from typing import Any

MAX_ID = 2**63 - 1  # the store's BIGINT / SQLite INTEGER ceiling
_DIGITS = re.compile(r"[0-9]{1,18}")  # ASCII only: "²" and "١" are digits to str.isdigit, not to a form


class FormIdError(ValueError):
    """A picked value that is not a record number; the message names the field in the page's words."""

    def __init__(self, what: str, noun: str, value: Any) -> None:
        self.what = what
        super().__init__(f"{what}: {shown(value)} is not a {noun} number; pick one from the list")


def shown(value: Any) -> str:
    """A forged value, short enough to quote back (a 30-digit number, a list...)."""
    if isinstance(value, str):
        return repr(value if len(value) <= 20 else value[:20] + "…")
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
        return text if len(text) <= 20 else text[:20] + "…"
    return f"a {type(value).__name__} value" if value is not None else "nothing"


def parse_id(value: Any, what: str, noun: str, *, minimum: int = 1) -> int:
    """An int, or a string of 1 to 18 ASCII digits, within minimum..2**63-1; anything else (bool, float,
    "1.5", "²", a list, a 30-digit number) raises FormIdError naming the field `what` ("the version to
    download") and what it holds, `noun` ("version"): "...: 'abc' is not a version number; pick one..."."""
    if isinstance(value, bool):
        raise FormIdError(what, noun, value)
    if isinstance(value, str):
        text = value.strip()
        if not _DIGITS.fullmatch(text):
            raise FormIdError(what, noun, value)
        number = int(text)
    elif isinstance(value, int):
        number = value
    else:
        raise FormIdError(what, noun, value)
    if not minimum <= number <= MAX_ID:
        raise FormIdError(what, noun, value)
    return number
