"""Turnover anchors: the presets' documented order (conservative trades no more than default, default no
more than aggressive, on the same portfolio) holds by construction, not by tuning.

Each preset's own parameters (its `sequences.max_turnover` budget, costs, risk weight) only make the order
likely: a risk-averse preset may still prefer a swap (sell one name, buy a calmer one) that trades more
than default's plan. So a preset may name an anchor: `[turnover] at_most = "default"` plans default on
the same inputs first and caps its own plan's traded notional at that plan's (every candidate is simulated
with the cap, later steps cut, and only candidates within it may be chosen; "hold" always is);
`at_least = "default"` adds default's plan, exactly as planned, to its candidates and chooses among those
that trade at least as much (that plan always does). The anchor is planned without its own anchors, so
anchors never recurse.

A tuned preset is compared with the anchor tuned the same way. The order is a promise at equal tuning: a preset
composed from a built-in (the Planner page's sliders and overrides, a stored user preset) keeps its base's anchor,
but the anchor is then planned with the tuned preset's slider positions and with every parameter the tuning changed
from the base (the overrides and switches; turnover.* aside): Aggressive tuned with sliders S and overrides O trades
at least Default tuned with S and O, Conservative with S and O at most that. Planned against Default as shipped, an
Aggressive with every slider at the cautious end still offered Default's full plan (past its own max weight and
turnover budget), and a bold Conservative stayed capped at it. A preset as shipped (only turnover.* changed) is
compared with the anchor as shipped; a preset file not composed from a built-in with the anchor at its slider
positions (its own explicit keys are its identity, as a built-in's are). An at_least anchor's plan must also fit
this preset's own turnover budget and cash reserve (own_limits), else the floor is not applied and a note says why.

at_least is also an exposure floor: the plan must end with at least the gross exposure (sum of |qty| x last close) the
anchor's plan ends with. Turnover counts sells too, so a plan of the same turnover that sells a name to buy others
ends less invested (each sold dollar is one less held and one less of the budget for buys): Aggressive at risk
appetite 0.85 (one seeded portfolio) swapped and ended at 55% where Default tuned alike, and Aggressive at 0.8, ended
at 63%, and in a bear regime Aggressive sold below Default. The anchor's plan meets its own floor, so a candidate
always does.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from engine.planner.preset import BUILT_IN_PRESETS, PlannerPreset, compose_preset, load_preset
from engine.planner.simulate import SimResult, gross_of
from engine.planner.sliders import apply_sliders
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


def _untouched(params: Mapping[str, object]) -> dict[str, object]:
    return {k: v for k, v in params.items() if not k.startswith("turnover.")}


def tuning(preset: PlannerPreset) -> dict[str, object] | None:
    """The overrides that make `preset` differ from its built-in base at its slider positions (turnover.* aside),
    or None when it is that built-in as shipped. A preset file not composed from a built-in: {} (no overrides)."""
    base = preset.base or preset.name
    if base not in BUILT_IN_PRESETS:
        return {}
    shipped = load_preset(base)
    if preset.sliders == shipped.sliders and _untouched(preset.params) == _untouched(shipped.params):
        return None
    slid = apply_sliders(shipped.params, preset.sliders)
    return {k: v for k, v in _untouched(preset.params).items() if slid.get(k) != v}


def anchor_preset(name: str, tuned: PlannerPreset | None = None) -> PlannerPreset:
    """The built-in preset an anchor names, with its own anchors switched off; tuned the way `tuned` is (its
    slider positions and the overrides `tuning` finds) unless `tuned` is None or a built-in as shipped."""
    p = load_preset(name)
    p = replace(p, params={**p.params, **{f"turnover.{k}": "none" for k in KINDS}})
    overrides = tuning(tuned) if tuned is not None else None
    if tuned is None or overrides is None or not (overrides or tuned.sliders):
        return p
    # stored=True: the tuned preset's own values were checked when it was composed (an old stored "fixed" method
    # is refused by the planning, as for the preset itself)
    return compose_preset(p, tuned.sliders, overrides, name=f"tuned {name}", stored=True)


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
    exposure_low: float = 0.0  # the at_least anchor's plan's end gross exposure (currency, at `prices`)
    prices: Mapping[str, float] = field(default_factory=dict)  # the last closes the exposure is valued at
    extra: tuple[tuple[str, SimResult], ...] = ()  # the partner anchor's plan, a candidate too (combine)
    fallback: Bounds | None = None  # one anchor's bounds alone, when no candidate meets both (combine)

    def admits(self, steps: Iterable[PlanStep], positions: Mapping[str, float] | None = None) -> bool:
        """Within the turnover bounds and, given the plan's end positions, at or above the exposure floor."""
        if not self.low <= traded(steps) <= self.high:
            return False
        return positions is None or gross_of(dict(positions), dict(self.prices)) >= self.exposure_low - 0.01


def bounds(anchors: Mapping[str, tuple[str, Plans]], state: PortfolioState) -> Bounds:
    """Plan each anchor on `state` and turn its plan's turnover into this preset's bounds."""
    out = Bounds()
    if "at_most" in anchors:
        name, planner = anchors["at_most"]
        high = traded(planner.plan(state).steps)
        out = replace(out, high=high, notes=(f"turnover at most {name}'s plan on this portfolio ({high:,.2f}){_alike(name)}",))
    if "at_least" in anchors:
        name, planner = anchors["at_least"]
        result = planner.plan(state)
        low = traded(result.steps)
        candidate, prices = as_sim(result, state), state.prices
        floor = gross_of(candidate.positions, prices)
        out = replace(out, low=low, candidate=candidate, candidate_label=f"{name}'s plan: {result.label}",
                      exposure_low=floor, prices=prices,
                      notes=(*out.notes, f"turnover at least {name}'s plan on this portfolio ({low:,.2f}){_alike(name)}, "
                                         f"ending at least as invested ({floor:,.2f} gross)"))
    return out


def partner_preset(name: str, tuned: PlannerPreset) -> PlannerPreset | None:
    """The anchor's other form, planned next to `anchor_preset`'s so the bounds do not jump at the preset's shipped
    slider positions: for a built-in as shipped, the anchor with its slider positions ("tuned"); for a tuned one,
    the anchor as shipped. None for a preset file not composed from a built-in (one form only). The planner plans
    it for at_least anchors only (an at_most ceiling of both forms held Conservative at Default-as-shipped's
    turnover at every hold position, where whole-share fitting to that ceiling moved its turnover both ways)."""
    overrides = tuning(tuned)
    if overrides is None:  # as shipped: the anchor at this preset's slider positions
        return compose_preset(anchor_preset(name), tuned.sliders, {}, name=f"tuned {name}", stored=True)
    if (tuned.base or tuned.name) not in BUILT_IN_PRESETS:
        return None
    return anchor_preset(name)


def combine(own: Bounds, partner: Bounds) -> Bounds:
    """One preset's bounds from its anchor's (`own`) and the partner form's, each after own_limits: the lower
    turnover ceiling; the higher turnover floor and exposure floor, both anchors' plans as candidates. Aggressive's
    plan then trades and holds at least what Default as shipped and Default at Aggressive's slider positions plan;
    planned against one form at the shipped positions and the other elsewhere, Aggressive's exposure jumped at 0.9
    (risk appetite 0.9 -> 0.95 on a cash-rich portfolio in a neutral regime: 60% -> 30%, Default at its shipped
    sliders holding, at Aggressive's selling). When no plan meets both floors (one anchor plan sells, the other
    holds and no buy is possible), the anchor as shipped bounds the plan alone (`fallback`): the order of the
    presets as shipped stays a promise, and the sweep does not jump at the shipped positions."""
    notes = tuple(dict.fromkeys((*own.notes, *partner.notes)))
    out = replace(own, high=min(own.high, partner.high), notes=notes)
    if partner.candidate is None:
        return out
    if own.candidate is None:
        return replace(partner, high=out.high, notes=notes)
    alone = partner if own.candidate_label.startswith("tuned ") else own  # the anchor as shipped
    return replace(out, low=max(own.low, partner.low), exposure_low=max(own.exposure_low, partner.exposure_low),
                   extra=((partner.candidate_label, partner.candidate),),
                   fallback=replace(alone, high=out.high, notes=notes))


def _not_short(state: PortfolioState, symbol: str) -> bool:
    """A buy of `symbol` opens exposure (the reserve holds it back) unless it covers a short."""
    held = state.positions.get(symbol)
    return held is None or held.qty >= 0


def _alike(name: str) -> str:
    return f" ({name.removeprefix('tuned ')} with the same sliders and overrides)" if name.startswith("tuned ") else ""


def own_limits(out: Bounds, state: PortfolioState, budget: float, keep: float, committed: float) -> Bounds:
    """`out` without its floor when the at_least anchor's plan breaks this preset's own limits: it trades more than
    this preset's turnover budget (currency), or its buys leave less free cash than this preset's reserve `keep`
    (committed: the cash open buys claimed, in the plan's cash but not free). Tuned alike, the anchor has the same
    limits; one named by an override (default with at_least = aggressive) may not."""
    plan = out.candidate
    if plan is None:
        return out
    why = []
    if (t := traded(plan.steps)) > budget + 0.01:
        why.append(f"trades {t:,.2f}, above this preset's turnover budget {budget:,.2f}")
    if any(s.side != SELL and _not_short(state, s.symbol) for s in plan.steps) and plan.cash - committed < keep - 0.01:
        why.append(f"leaves {plan.cash - committed:,.2f} free cash, below this preset's reserve {keep:,.2f}")
    if not why:
        return out
    name = out.candidate_label.split("'s plan", 1)[0]
    notes = tuple(n for n in out.notes if not n.startswith("turnover at least"))
    return replace(out, low=0.0, candidate=None, candidate_label="", exposure_low=0.0,
                   notes=(*notes, f"turnover floor not applied: {name}'s plan " + " and ".join(why)))
