"""Number, money, time and age formatting shared by every page."""
from __future__ import annotations

from datetime import datetime


def money(value: float | None, decimals: int = 2) -> str:
    """-$253,512.50: the sign before the currency, thousands separated; a dash when unknown (None, NaN)."""
    if value is None or value != value:  # NaN is the one value unequal to itself
        return "—"
    sign = "-" if round(value, decimals) < 0 else ""  # -0.001 shows as $0.00, not -$0.00
    return f"{sign}${abs(value):,.{decimals}f}"


def number(value: float | None, decimals: int = 2) -> str:
    return "—" if value is None or value != value else f"{value:,.{decimals}f}"


def pct(value: float | None, decimals: int = 2) -> str:
    return "—" if value is None else f"{value:+.{decimals}f}%"


def timestamp(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def age(seconds: float | None) -> str:
    """'4 s', '3 min', '2 h 5 min' — how long ago something happened."""
    if seconds is None:
        return "never"
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    hours, rest = divmod(seconds, 3600)
    return f"{hours:.0f} h {rest / 60:.0f} min"
