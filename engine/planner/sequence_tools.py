"""Helpers the sequence generators share: order sells before buys, tag each action with its pattern."""
from __future__ import annotations

from collections.abc import Iterable

from engine.planner.types import SELL, Action, copy_with

Patterned = list[tuple[str, list[Action]]]
# f"{a.side} {a.symbol}" without a Python frame per action (tens of thousands a run)
_TRADE_TEXT = "{0.side} {0.symbol}".format


def ordered(actions: Iterable[Action]) -> tuple[Action, ...]:
    """Sells first (they fund the buys), each side by score; stable for equal scores."""
    return tuple(sorted(actions, key=lambda a: (a.side != SELL, -a.score, a.symbol)))


def tagged(pattern: str, actions: Iterable[Action]) -> list[Action]:
    return [copy_with(a, pattern=pattern) if not a.pattern else a for a in actions]


def label(generator: str, pattern: str, actions: Iterable[Action], extra: str = "") -> str:
    body = ", ".join(map(_TRADE_TEXT, actions))
    return f"{pattern}/{generator}{extra}: {body}"
