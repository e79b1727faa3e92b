"""Numbers as a person types them into a form's text field (the Backtest page's cash, the trade ticket).

Why text fields: a number input sends nothing for what the browser finds invalid (empty, "e", 0 below its
min, 1.5 off its step), so the server could only say "enter a value". With text the server sees what was
typed and can quote it back with the rule it breaks.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")  # 1,000,000.50: thousands separators in their places
NOT_A_NUMBER = Decimal("NaN")


def uses_exponent(value: Any, max_len: int) -> bool:
    """Typed text that is a finite number only in exponent notation ("1e3", "2.5E+2")."""
    if not isinstance(value, str) or "e" not in value.lower():
        return False
    number = typed_decimal(value, max_len)
    return number.is_finite()


def typed_decimal(value: Any, max_len: int, *, allow_exponent: bool = True) -> Decimal:
    """A form value (text, int or float) as a Decimal; NaN when it is not a number: a bool, a list, text longer
    than `max_len`, or text that does not parse ("1,5" is not 1.5 nor 15: commas only as thousands separators).
    Infinity parses: callers refuse what is not finite. allow_exponent=False: typed text in exponent notation
    ("1e3") is NaN too (see uses_exponent to say why); a number sent as a number is still read."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return NOT_A_NUMBER
    text = str(value).strip()
    if len(text) > max_len:
        return NOT_A_NUMBER
    if not allow_exponent and isinstance(value, str) and "e" in text.lower():  # inf, nan: no e
        return NOT_A_NUMBER
    try:
        return Decimal(text.replace(",", "") if GROUPED.fullmatch(text) else text)
    except InvalidOperation:
        return NOT_A_NUMBER


def blank(value: Any) -> bool:
    """Nothing entered: None, or only spaces."""
    return value is None or (isinstance(value, str) and not value.strip())
