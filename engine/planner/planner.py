"""The planner: calculators -> patterns -> sequences -> filters -> simulation -> end-state scoring.

build_planner resolves a preset's enabled modules from the registries once (cheap: no data is
touched); Planner.plan runs the pipeline on one PortfolioState. The best non-relaxed sequence is
the plan; "what if" (relaxed) sequences only appear among the runner-ups, labelled. A preset with a
turnover anchor (engine.planner.turnover_anchor) chooses only among plans within its anchor's turnover; a tuned
preset's anchor is tuned the same way (same sliders and overrides), so the order holds at equal tuning.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import TypeVar

import numpy as np

from engine.planner import preset_schema
from engine.planner.buckets import BucketPlanner
from engine.planner.committed import committed_note, committed_of
from engine.planner.context import (
    Calculator,
    Candidates,
    Filter,
    Pattern,
    PlanContext,
    SequenceGenerator,
    build_context,
)
from engine.planner.preset import PlannerPreset
from engine.planner.registry import CALCULATORS, FILTERS, PATTERNS, SEQUENCES, Registry
from engine.planner.scoring import end_weights, monte_carlo, score_many
from engine.planner.simulate import Costs, SimResult, gross_of, relax, reserve_floor, simulate
from engine.planner.turnover_anchor import (
    Bounds,
    Plans,
    anchor_names,
    anchor_preset,
    bounds,
    combine,
    own_limits,
    partner_preset,
)
from engine.planner.types import Action, PlanResult, PortfolioState, Sequence, SequenceSummary

ORDER = {"calculators": preset_schema.CALCULATORS, "patterns": preset_schema.PATTERNS,
         "sequences": preset_schema.SEQUENCES, "filters": preset_schema.FILTERS}
RUNNER_UPS = 5
# what makes two sequences simulate alike (planned) and two simulations end alike (traded); attrgetter: no
# Python frame per action
_PLANNED = attrgetter("symbol", "side", "qty", "price")
_TRADED = attrgetter("symbol", "side", "qty")
_SCORE = attrgetter("score")


F = TypeVar("F", bound=Callable[..., object])


def _enabled(registry: Registry[F], preset: PlannerPreset) -> list[tuple[str, F]]:
    """The stage's registered modules switched on by the preset, in the schema's order (new modules last)."""
    order = ORDER[registry.stage]
    names = sorted(registry.names(), key=lambda n: (order.index(n) if n in order else len(order), n))
    return [(n, registry.get(n)) for n in names if preset.params.get(f"{registry.stage}.{n}.enabled", True)]


@dataclass
class Scored:
    seq: Sequence
    sim: SimResult
    parts: dict[str, float]


@dataclass
class Planner:
    preset: PlannerPreset
    calculators: list[tuple[str, Calculator]]
    patterns: list[tuple[str, Pattern]]
    generators: list[tuple[str, SequenceGenerator]]
    filters: list[tuple[str, Filter]]
    anchors: dict[str, tuple[str, Plans]] = field(default_factory=dict)  # kind -> (preset name, its planner)
    partners: dict[str, tuple[str, Plans]] = field(default_factory=dict)  # the anchors' other form (partner_preset)

    def candidates(self, ctx: PlanContext) -> Candidates:
        return {name: fn(ctx) for name, fn in self.calculators}

    def sequences(self, ctx: PlanContext, cands: Candidates) -> list[Sequence]:
        patterned: list[tuple[str, list[Action]]] = []
        for name, fn in self.patterns:
            patterned.extend((name, actions) for actions in fn(ctx, cands))
        seqs: list[Sequence] = []
        for _, gen in self.generators:
            seqs.extend(gen(ctx, patterned))
        for _, flt in self.filters:
            seqs = flt(ctx, seqs)
        cap = int(ctx.p("sequences.beam_width")) * 6
        seqs.sort(key=lambda s: -sum(map(_SCORE, s.actions)))
        return seqs[:cap]

    def evaluate(self, ctx: PlanContext, seqs: list[Sequence], limits: Bounds | None = None) -> list[Scored]:
        """Simulate and score each sequence (after "hold" and an at_least anchor's plan), duplicates dropped."""
        state, limits = ctx.state, limits or Bounds()
        costs = Costs(ctx.p("costs.fixed"), ctx.p("costs.proportional"))
        factor = ctx.p("sequences.relax_factor")
        budget = min(ctx.p("sequences.max_turnover") * ctx.equity, limits.high)
        held = {s: h.qty for s, h in state.positions.items()}
        gross = gross_of(held, ctx.prices)  # every sequence starts from the same positions
        # buys spend only the cash open buys have not claimed; the scoring sees the account's cash (the claimed
        # part too: it becomes shares of the same value), as for "hold" and the anchor's plan
        committed = committed_of(state)
        free = state.cash - committed
        keep = reserve_floor(ctx.p("targets.cash_reserve"), ctx.equity, free)  # the cash no buy may spend
        anchor = [(Sequence(limits.candidate_label, (), "anchor"), limits.candidate)] if limits.candidate else []
        anchor += [(Sequence(label, (), "anchor"), sim) for label, sim in limits.extra]
        unique: list[tuple[Sequence, SimResult]] = []
        tried, seen = set(), set()
        for seq, given in [(Sequence("hold: no trades", (), "hold"), None), *anchor, *((s, None) for s in seqs)]:
            planned = (seq.relaxed, tuple(map(_PLANNED, seq.actions)))
            if given is None and planned in tried:  # the same trades simulate the same: skip before simulating
                continue
            tried.add(planned)
            sim = given or simulate(seq.actions, free, held, ctx.prices, ctx.equity,
                                    relax(state.limits, seq.relaxed, factor), costs, state.trading_state,
                                    max_turnover=budget, size_caps=state.size_caps, regime_hold=state.regime_hold,
                                    gross=gross, keep=keep)
            if committed and given is None:
                sim = replace(sim, cash=sim.cash + committed)
            key = (seq.relaxed, tuple(map(_TRADED, sim.steps)))
            if key not in seen:
                seen.add(key)
                unique.append((seq, sim))
        out = [Scored(seq, sim, parts) for (seq, sim), parts in zip(unique, score_many([u[1] for u in unique], ctx),
                                                                    strict=True)]
        out.sort(key=lambda r: -r.parts["total"])
        if ctx.on("scoring.monte_carlo"):
            self._monte_carlo(ctx, out, limits)
        return out

    def _monte_carlo(self, ctx: PlanContext, ranked: list[Scored], limits: Bounds) -> None:
        """Re-score the top `mc_top` candidates the plan may be (not relaxed, within the turnover anchor) by a seeded
        bootstrap of their end portfolio's horizon returns, and re-rank them among themselves in the places they held.
        Only they carry the Monte Carlo part, so only they are compared on it: re-sorting everyone let an unevaluated
        candidate (ranked below all of them before, and spared the CVaR penalty) overtake them and become the plan."""
        rng = np.random.default_rng(int(ctx.p("scoring.seed")))
        places = [i for i, r in enumerate(ranked)
                  if r.seq.relaxed is None and limits.admits(r.sim.steps, r.sim.positions)]
        places = places[: int(ctx.p("scoring.mc_top"))]
        top = [ranked[i] for i in places]
        for r in top:
            mc = monte_carlo(r.sim, ctx, rng)
            r.parts.update(mc)
            r.parts["total"] += ctx.p("scoring.return_weight") * 0.5 * (mc["mc_return"] - r.parts.get("scored_return", r.parts["return"])) \
                - ctx.p("scoring.risk_weight") * 0.5 * mc["mc_cvar"]
        top.sort(key=lambda r: -r.parts["total"])  # stable: a tie keeps the earlier rank
        for i, r in zip(places, top, strict=True):
            ranked[i] = r

    def plan(self, state: PortfolioState, preset_reason: str = "") -> PlanResult:
        started = time.perf_counter()
        ctx = build_context(state, self.preset.params)
        committed = committed_of(state)
        keep = reserve_floor(ctx.p("targets.cash_reserve"), ctx.equity, state.cash - committed)
        budget = ctx.p("sequences.max_turnover") * ctx.equity
        limits = own_limits(bounds(self.anchors, state), state, budget, keep, committed)
        if self.partners:  # the anchors' other form (turnover_anchor.combine: no jump at the shipped positions)
            limits = combine(limits, own_limits(bounds(self.partners, state), state, budget, keep, committed))
        seqs = self.sequences(ctx, self.candidates(ctx))
        ranked = self.evaluate(ctx, seqs, limits)
        plans = [r for r in ranked if r.seq.relaxed is None]  # "hold" is never relaxed
        hold = next(r for r in plans if r.seq.generator == "hold")  # first evaluated: never a duplicate
        best = next((r for r in plans if limits.admits(r.sim.steps, r.sim.positions)), None)
        if best is None and limits.fallback is not None:  # no plan meets both anchors' floors: the shipped one alone
            best = next((r for r in plans if limits.fallback.admits(r.sim.steps, r.sim.positions)), None)
        best = best or hold  # none only if the anchors conflict
        claimed = committed_note(state)  # why buys are smaller than the account's cash suggests: said first
        notes = ([claimed] if claimed else []) + list(ctx.notes) + list(best.sim.skipped) + list(best.sim.notes) \
            + list(limits.notes)
        if best is not plans[0]:
            notes.append(f"{plans[0].seq.label} scores higher ({plans[0].parts['total']:.2f}) but is outside "
                         "the turnover anchor (its turnover or end exposure)")
        unscored = next((r for r in plans if "mc_cvar" in best.parts and "mc_cvar" not in r.parts
                         and r.parts["total"] > best.parts["total"]), None)
        if unscored is not None:  # its total has no Monte Carlo part: not comparable with the plan's
            notes.append(f"{unscored.seq.label} scores {unscored.parts['total']:.2f} without the Monte Carlo; only the "
                         f"top {int(ctx.p('scoring.mc_top'))} candidates are scored with it, the plan is the best of them")
        if state.trading_state not in ("ACTIVE",):
            notes.insert(0, f"trading is {state.trading_state}: "
                         + ("only exits are planned" if state.trading_state == "REDUCING" else "no orders are planned"))
        if state.regime_hold:
            notes.insert(0, state.regime_hold)
        if ranked[0].seq.relaxed is not None:
            notes.append(f"a what-if with {ranked[0].seq.relaxed} scores higher ({ranked[0].parts['total']:.2f}); "
                         "it is not the plan and is never sent")
        runner_ups = [SequenceSummary(r.seq.label, round(r.parts["total"], 4),
                                      "; ".join(f"{s.side} {s.qty:,.0f} {s.symbol}" for s in r.sim.steps) or "no trades",
                                      r.seq.relaxed) for r in ranked if r is not best][:RUNNER_UPS]
        return PlanResult(
            steps=best.sim.steps, score={k: round(v, 6) for k, v in best.parts.items()}, runner_ups=runner_ups,
            sequences_evaluated=len(ranked), elapsed_ms=(time.perf_counter() - started) * 1000,
            preset=self.preset.name, preset_base=self.preset.base, regime=state.regime, preset_reason=preset_reason,
            weights_before=dict(ctx.weights), weights_after=end_weights(best.sim, ctx), costs=best.sim.costs,
            label=best.seq.label, notes=notes)


def build_planner(preset: PlannerPreset) -> Planner | BucketPlanner:
    """A planner for the preset (the bucket planner when the preset splits the portfolio)."""
    if preset.buckets:
        return BucketPlanner.build(preset, build_planner)
    anchors: dict[str, tuple[str, Plans]] = {}
    partners: dict[str, tuple[str, Plans]] = {}
    for kind, name in anchor_names(preset.params).items():  # tuned alike: turnover_anchor's docstring says why
        anchor = anchor_preset(name, preset)
        anchors[kind] = (anchor.name, build_planner(anchor))
        if kind == "at_least" and (partner := partner_preset(name, preset)) is not None:
            partners[kind] = (partner.name, build_planner(partner))
    return Planner(preset, _enabled(CALCULATORS, preset), _enabled(PATTERNS, preset),
                   _enabled(SEQUENCES, preset), _enabled(FILTERS, preset), anchors, partners)
