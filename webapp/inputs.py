"""Checks for values that come from the browser, shared by callbacks that change state.

A callback's inputs arrive as JSON that any client can forge: a button's n_clicks may be a list, a
float or 1e308. A state-changing callback acts only on a real click count.
"""
from __future__ import annotations

from typing import Any

MAX_CLICKS = 2**31


def is_click(n: Any) -> bool:
    """True for a real button click count (a positive int, not a bool)."""
    return isinstance(n, int) and not isinstance(n, bool) and 0 < n < MAX_CLICKS


def triggered_by_click(triggered: list[dict[str, Any]] | None) -> bool:
    """Whether Dash's ctx.triggered names a real click (not a component appearing, not a forged value)."""
    return bool(triggered) and triggered is not None and is_click(triggered[0].get("value"))


def text_or_default(value: Any, default: str, limit: int = 500) -> str:
    """A free-text field (reason, note) as a bounded string; anything else becomes the default."""
    return value.strip()[:limit] if isinstance(value, str) and value.strip() else default
