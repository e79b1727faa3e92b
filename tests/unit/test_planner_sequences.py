"""Sequence generators: subsets with sells first, beam search, partial fills, labelled what-ifs."""
from __future__ import annotations

from math import comb

from engine.planner.registry import SEQUENCES
from tests.unit.planner_helpers import ctx
from tests.unit.test_planner_patterns import act

PATTERNED = [("mixed_strategy", [act("B1", "buy", 0.9, "weight_based"), act("S1", "sell", 0.5, "trend"),
                                 act("B2", "buy", 0.4, "opportunity_buys")])]


def gen(name: str, **params: object) -> list:  # type: ignore[no-untyped-def]
    return SEQUENCES.get(name)(ctx({"X": 1.0}, params=params), PATTERNED)


def test_all_four_generators_are_registered() -> None:
    assert set(SEQUENCES.names()) == {"combinatorial", "enhanced_combinatorial", "partial_execution",
                                      "constraint_relaxation"}


def test_combinatorial_every_subset_up_to_depth_sells_first() -> None:
    seqs = gen("combinatorial", **{"sequences.max_depth": 2, "sequences.beam_width": 200})
    assert len(seqs) == comb(3, 2) + comb(3, 1)
    for s in seqs:
        sides = [a.side for a in s.actions]
        assert sides == sorted(sides, key=lambda x: x != "sell") and len(s.actions) <= 2
        assert all(a.pattern == "mixed_strategy" for a in s.actions) and s.relaxed is None
    # best first by summed score: {B1, S1} = 1.4
    assert {a.symbol for a in seqs[0].actions} == {"B1", "S1"}
    assert [a.symbol for a in seqs[0].actions] == ["S1", "B1"]


def test_enhanced_beam_is_bounded_and_diverse() -> None:
    seqs = gen("enhanced_combinatorial", **{"sequences.max_depth": 3, "sequences.beam_width": 2})
    # depth 1 keeps 2, depth 2 keeps 2, depth 3 the one full set: at most beam x depth distinct sets
    assert 1 <= len(seqs) <= 2 * 3
    assert len({frozenset(a.symbol for a in s.actions) for s in seqs}) == len(seqs)
    assert max(len(s.actions) for s in seqs) == 3


def test_partial_execution_50_75_100_percent_fills() -> None:
    seqs = gen("partial_execution", **{"sequences.partial_fills": 0.5, "sequences.max_depth": 3})
    qty = sorted(sum(a.qty for a in s.actions) for s in seqs)
    assert qty == [15.0, 21.0, 30.0]  # floor(10 x f) per action: 5x3, 7x3, 10x3


def test_constraint_relaxation_is_labelled_what_if() -> None:
    seqs = gen("constraint_relaxation", **{"sequences.relax_factor": 2.0})
    assert {s.relaxed for s in seqs} == {"max_order_notional x2", "max_position_notional x2",
                                         "max_gross_exposure_pct x2"}
    assert all("[" + s.relaxed + "]" in s.label for s in seqs)
