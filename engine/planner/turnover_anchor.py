"""Turnover anchors: the presets' documented order (conservative trades no more than default, default no
more than aggressive, on the same portfolio) holds by construction, not by tuning.

Each preset's own parameters (its `sequences.max_turnover` budget, costs, risk weight) only make the order
likely: a risk-averse preset may still prefer a swap (sell one name, buy a calmer one) that trades more
than default's plan. So a preset may name an anchor: `[turnover] at_most = "default"` plans default on
the same inputs first and caps its own plan's traded notional at that plan's (every candidate is simulated
with the cap, later steps cut, and only candidates within it may be chosen; "hold" always is);
`at_least = "default"` adds default's plan, exactly as planned, to its candidates and chooses among those
that trade at least as much (that plan always does). The anchor is planned without its own anchors, so
anchors never recurse; a custom preset based on a built-in keeps the built-in's anchor.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from engine.planner.preset import PlannerPreset, load_preset
from engine.planner.simulate import SimResult
from engine.planner.types import SELL, PlanResult, PlanStep, PortfolioState

KINDS = ("at_most", "at_least")
EXPLANATION = ("Conservative never trades more than Default would on the same portfolio, and Aggressive never "
               "trades less: both are planned next to Default and their pick is limited by Default's turnover. "
               "Conservative means fewer trades and longer holds, not a less risky end portfolio: on a fully invested "
               "account its smaller turnover (and longer minimum hold) can sell less of the risk away than "
               "Aggressive's plan does, so compare the plans' risk scores before sending.")


class Plans(Protocol):
    def plan(self, state: PortfolioState, preset_reason: str = "") -> PlanResult: ...


def traded(steps: Iterable[PlanStep]) -> float:
    """A plan's turnover: the sum of |notional| of its trades (PlanResult.turnover)."""
    return sum(abs(s.notional) for s in steps)


def anchor_names(params: Mapping[str, object]) -> dict[str, str]:
    """kind ("at_most" / "at_least") -> the built-in preset the plan's turnover is bounded by."""
    return {k: str(params.get(f"turnover.{k}", "none")) for k in KINDS
            if str(params.get(f"turnover.{k}", "none")) != "none"}


def anchor_preset(name: str) -> PlannerPreset:
    """The built-in preset an anchor names, with its own anchors switched off."""
    p = load_preset(name)
    return replace(p, params={**p.params, **{f"turnover.{k}": "none" for k in KINDS}})


def as_sim(result: PlanResult, state: PortfolioState) -> SimResult:
    """The anchor's plan as a simulation result, so this preset can score it as one of its candidates."""
    held = {s: h.qty for s, h in state.positions.items()}
    cash = state.cash
    for s in result.steps:
        sign = -1.0 if s.side == SELL else 1.0
        held[s.symbol] = held.get(s.symbol, 0.0) + sign * s.qty
        cash += -sign * s.notional - s.cost
    return SimResult(list(result.steps), cash, {s: q for s, q in held.items() if abs(q) > 1e-9}, result.costs)


@dataclass(frozen=True)
class Bounds:
    """The turnover this preset's plan must stay within, and the at_least anchor's plan as a candidate."""

    low: float = 0.0
    high: float = math.inf
    candidate: SimResult | None = None
    candidate_label: str = ""
    notes: tuple[str, ...] = ()

    def admits(self, steps: Iterable[PlanStep]) -> bool:
        return self.low <= traded(steps) <= self.high


def bounds(anchors: Mapping[str, tuple[str, Plans]], state: PortfolioState) -> Bounds:
    """Plan each anchor on `state` and turn its plan's turnover into this preset's bounds."""
    out = Bounds()
    if "at_most" in anchors:
        name, planner = anchors["at_most"]
        high = traded(planner.plan(state).steps)
        out = replace(out, high=high, notes=(f"turnover at most {name}'s plan on this portfolio ({high:,.2f})",))
    if "at_least" in anchors:
        name, planner = anchors["at_least"]
        result = planner.plan(state)
        low = traded(result.steps)
        out = replace(out, low=low, candidate=as_sim(result, state), candidate_label=f"{name}'s plan: {result.label}",
                      notes=(*out.notes, f"turnover at least {name}'s plan on this portfolio ({low:,.2f})"))
    return out
