"""Byte counts as a reader expects them in an upload limit's message."""
from __future__ import annotations


def size_text(n: int) -> str:
    """A byte count in the unit a reader expects: "5.0 MB", "10 kB", "12.5 kB", "900 bytes" (a small configured
    limit read "0.0 MB")."""
    if n >= 1_000_000:
        return f"{n / 1e6:.1f} MB"
    if n >= 1000:
        return f"{n / 1e3:.1f}".removesuffix(".0") + " kB"
    return f"{n} byte{'' if n == 1 else 's'}"
