"""Helper the filters share: drop some actions from each sequence, drop sequences left empty."""
from __future__ import annotations

from collections.abc import Callable

from engine.planner.types import Action, Sequence, copy_with


def keep_actions(seqs: list[Sequence], keep: Callable[[Action], bool]) -> list[Sequence]:
    out = []
    for seq in seqs:
        kept = tuple(filter(keep, seq.actions))  # filter(): no generator frame per action (hundreds of thousands a run)
        if len(kept) == len(seq.actions):
            out.append(seq)
        elif kept:
            out.append(copy_with(seq, actions=kept))
    return out
