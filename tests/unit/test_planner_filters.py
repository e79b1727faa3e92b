"""Filters: eligibility (minimum hold, cooldown, loss limit), recently traded, correlation, diversity."""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from engine.planner.registry import FILTERS
from engine.planner.types import LastTrade, Sequence
from tests.unit.planner_helpers import NOW, ctx, holding
from tests.unit.test_planner_patterns import act


def seq(*actions) -> Sequence:  # type: ignore[no-untyped-def]
    return Sequence("t", tuple(actions), "combinatorial")


def symbols(seqs: list[Sequence]) -> list[list[str]]:
    return [[a.symbol for a in s.actions] for s in seqs]


def test_all_four_filters_are_registered() -> None:
    assert set(FILTERS.names()) == {"eligibility", "recently_traded", "correlation_aware", "diversity"}


def test_eligibility_minimum_hold_cooldown_and_loss_limit() -> None:
    c = ctx({"NEWW": 150.0, "LOSS": 50.0, "OK": 100.0, "COOL": 10.0},
            [holding("NEWW", 10, 100, days_held=3), holding("LOSS", 10, 100), holding("OK", 10, 90)],
            last_trades={"COOL": LastTrade(NOW - timedelta(days=1), "sell")},
            params={"filters.eligibility.min_hold_days": 5, "filters.eligibility.cooldown_days": 2,
                    "filters.eligibility.max_loss_to_sell": 0.25})
    out = FILTERS.get("eligibility")(c, [
        seq(act("NEWW", "sell", 1, "profit_taking", price=150.0)),  # windfall but held 3 < 5 days: dropped
        seq(act("LOSS", "sell", 1, "trend", price=50.0), act("OK", "sell", 1, "trend", price=100.0)),  # -50% < -25%
        seq(act("COOL", "buy", 1, "trend")),  # traded 1 day ago, cooldown 2
    ])
    assert symbols(out) == [["OK"]]


def test_recently_traded_blocks_round_trips_only() -> None:
    c = ctx({"A": 10.0, "B": 10.0}, [holding("B", 10, 10)],
            last_trades={"A": LastTrade(NOW - timedelta(days=3), "sell"), "B": LastTrade(NOW - timedelta(days=3), "buy")},
            params={"filters.recently_traded.days": 5})
    out = FILTERS.get("recently_traded")(c, [seq(act("A", "buy", 1, "trend")), seq(act("A", "sell", 1, "trend")),
                                             seq(act("B", "sell", 1, "trend")), seq(act("B", "buy", 1, "trend"))])
    assert symbols(out) == [["A"], ["B"]] and [s.actions[0].side for s in out] == ["sell", "buy"]


def test_correlation_aware_drops_sequences_buying_twins() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(0, 0.01, 60)
    returns = pd.DataFrame({"T1": base, "T2": base + rng.normal(0, 0.0005, 60), "IND": rng.normal(0, 0.01, 60),
                            "HELD": rng.normal(0, 0.01, 60)})
    corr = returns.corr()
    assert corr.at["T1", "T2"] > 0.9 and abs(corr.at["T1", "IND"]) < 0.5  # the oracle: pandas' correlation
    c = ctx({s: 10.0 for s in returns}, [holding("HELD", 1, 10)], returns=returns,
            params={"filters.correlation_aware.threshold": 0.9})
    out = FILTERS.get("correlation_aware")(c, [seq(act("T1", "buy", 1, "x"), act("T2", "buy", 1, "x")),
                                               seq(act("T1", "buy", 1, "x"), act("IND", "buy", 1, "x"))])
    assert symbols(out) == [["T1", "IND"]]


def test_diversity_drops_identical_and_overlapping_sequences_by_weight() -> None:
    a, b, c_, d = (act(s, "buy", 1, "x") for s in "ABCD")
    seqs = [seq(a, b), seq(a, b), seq(a, c_), seq(c_, d)]
    loose = FILTERS.get("diversity")(ctx({"X": 1.0}, params={"filters.diversity.weight": 0.0}), seqs)
    assert symbols(loose) == [["A", "B"], ["A", "C"], ["C", "D"]]  # only the exact duplicate goes
    strict = FILTERS.get("diversity")(ctx({"X": 1.0}, params={"filters.diversity.weight": 0.7}), seqs)
    # Jaccard({A,B},{A,C}) = 1/3 > 0.3: dropped; {C,D} shares nothing with {A,B}: kept
    assert symbols(strict) == [["A", "B"], ["C", "D"]]
