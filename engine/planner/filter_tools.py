"""Helper the filters share: drop some actions from each sequence, drop sequences left empty."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from engine.planner.types import Action, Sequence


def keep_actions(seqs: list[Sequence], keep: Callable[[Action], bool]) -> list[Sequence]:
    out = []
    for seq in seqs:
        kept = tuple(a for a in seq.actions if keep(a))
        if len(kept) == len(seq.actions):
            out.append(seq)
        elif kept:
            out.append(replace(seq, actions=kept))
    return out
