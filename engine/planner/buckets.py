"""Buckets: a core and satellites, each with its share of capital and its own preset, planned apart.

A satellite owns the symbols it lists, the core every other one. Each bucket plans on its own
positions and `share` x the cash, so one bucket's plan never spends another's cash; the plans are
merged sells first, and cash after each step is recomputed over the whole account.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from engine.planner.preset import Bucket, PlannerPreset, load_preset
from engine.planner.types import SELL, PlanResult, PortfolioState, SequenceSummary

if TYPE_CHECKING:  # the planner module builds bucket planners (it passes its factory in): no import back
    from engine.planner.planner import Planner


def bucket_state(state: PortfolioState, bucket: Bucket, satellites: set[str]) -> PortfolioState:
    if bucket.symbols:
        mine = [s for s in state.history.columns if s in bucket.symbols]
    else:
        mine = [s for s in state.history.columns if s not in satellites]
    return replace(state, positions={s: h for s, h in state.positions.items() if s in mine},
                   cash=state.cash * bucket.share, history=state.history[mine],
                   fixed_targets={s: w for s, w in (state.fixed_targets or {}).items() if s in mine} or None)


@dataclass
class BucketPlanner:
    preset: PlannerPreset
    planners: list[tuple[Bucket, Planner | BucketPlanner]]

    @classmethod
    def build(cls, preset: PlannerPreset, factory: Callable[[PlannerPreset], Planner | BucketPlanner]) -> BucketPlanner:
        """`factory` is engine.planner.planner.build_planner (a bucket's own preset may split again)."""
        return cls(preset, [(b, factory(load_preset(b.preset))) for b in preset.buckets])

    def plan(self, state: PortfolioState, preset_reason: str = "") -> PlanResult:
        started = time.perf_counter()
        satellites = {s for b, _ in self.planners for s in b.symbols}
        results = [(b, p.plan(bucket_state(state, b, satellites), preset_reason)) for b, p in self.planners]
        steps = [replace(s, bucket=b.name) for b, r in results for s in r.steps]
        steps.sort(key=lambda s: s.side != SELL)  # stable: each bucket's own order within a side
        cash, merged = state.cash, []
        for s in steps:
            cash += (s.notional - s.cost) if s.side == SELL else -(s.notional + s.cost)
            merged.append(replace(s, cash_after=round(cash, 2)))
        total_share = sum(b.share for b, _ in results) or 1.0
        parts = dict.fromkeys(k for _, r in results for k in r.score)  # in order, not a set's (hash-seeded)
        score = {k: sum(b.share * r.score.get(k, 0.0) for b, r in results) / total_share for k in parts}
        prices = state.prices
        equity = state.equity
        after = {s: h.qty for s, h in state.positions.items()}
        for s in merged:
            after[s.symbol] = after.get(s.symbol, 0.0) + (s.qty if s.side != SELL else -s.qty)
        weights_after = {s: q * prices.get(s, 0.0) / equity for s, q in after.items() if q > 0} if equity > 0 else {}
        return PlanResult(
            steps=merged, score=score,
            runner_ups=[SequenceSummary(f"[{b.name}] {u.label}", u.score_total, u.steps, u.relaxed)
                        for b, r in results for u in r.runner_ups[:2]],
            sequences_evaluated=sum(r.sequences_evaluated for _, r in results),
            elapsed_ms=(time.perf_counter() - started) * 1000, preset=self.preset.name, preset_base=self.preset.base,
            regime=state.regime,
            preset_reason=preset_reason,
            weights_before={s: h.qty * prices.get(s, h.avg_price) / equity for s, h in state.positions.items()}
            if equity > 0 else {},
            weights_after=weights_after, costs=sum(r.costs for _, r in results),
            label=" + ".join(f"{b.name}: {r.label}" for b, r in results),
            notes=[f"[{b.name}] {n}" for b, r in results for n in r.notes],
            buckets={b.name: b.preset for b, _ in results})
