"""Each pattern generator on hand-made candidates: which action lists it proposes."""
from __future__ import annotations

from engine.planner.registry import PATTERNS
from engine.planner.types import Action
from tests.unit.planner_helpers import ctx, holding


def act(symbol: str, side: str, score: float, calculator: str, qty: float = 10, price: float = 10.0) -> Action:
    return Action(symbol, side, qty, price, score, calculator, f"{calculator} {symbol}")


CANDS = {
    "profit_taking": [act("WIN", "sell", 0.9, "profit_taking")],
    "rebalance_sells": [act("FAT", "sell", 0.6, "rebalance_sells"), act("WIN", "sell", 0.3, "rebalance_sells")],
    "rebalance_buys": [act("THIN", "buy", 0.5, "rebalance_buys")],
    "opportunity_buys": [act("NEW", "buy", 0.8, "opportunity_buys", qty=100), act("NEW2", "buy", 0.4, "opportunity_buys")],
    "averaging_down": [act("DIP", "buy", 0.7, "averaging_down"), act("DIP2", "buy", 0.2, "averaging_down")],
    "weight_based": [act("NEW", "buy", 0.6, "weight_based"), act("FAT", "sell", 0.5, "weight_based")],
    "trend": [act("FADE", "sell", 0.4, "trend")],
}


def run(name: str, c=None) -> list[list[tuple[str, str]]]:  # type: ignore[no-untyped-def]
    c = c or ctx({"X": 1.0}, cash=1_000, params={"sequences.candidates_per_category": 3})
    return [[(a.symbol, a.side) for a in actions] for actions in PATTERNS.get(name)(c, CANDS)]


def test_all_thirteen_patterns_are_registered() -> None:
    assert set(PATTERNS.names()) == {"direct_buy", "single_best", "profit_taking", "rebalance", "averaging_down",
                                     "multi_sell", "mixed_strategy", "opportunity_first", "deep_rebalance",
                                     "cash_generation", "cost_optimised", "adaptive", "market_regime"}


def test_direct_buy_each_best_buy_alone_one_per_symbol() -> None:
    # buys by score: NEW 0.8 (opportunity beats weight_based's 0.6), DIP 0.7, THIN 0.5, NEW2 0.4, DIP2 0.2
    assert run("direct_buy") == [[("NEW", "buy")], [("DIP", "buy")], [("THIN", "buy")], [("NEW2", "buy")],
                                 [("DIP2", "buy")]]


def test_single_best_is_the_highest_score() -> None:
    assert run("single_best") == [[("WIN", "sell")]]


def test_profit_taking_sells_windfalls_then_reinvests_in_the_best_buy() -> None:
    assert run("profit_taking") == [[("WIN", "sell")], [("WIN", "sell"), ("NEW", "buy")]]


def test_rebalance_pairs_overweight_sells_with_underweight_buys() -> None:
    assert run("rebalance") == [[("FAT", "sell"), ("WIN", "sell"), ("THIN", "buy")]]


def test_averaging_down_each_dip_then_all() -> None:
    assert run("averaging_down") == [[("DIP", "buy")], [("DIP2", "buy")], [("DIP", "buy"), ("DIP2", "buy")]]


def test_multi_sell_all_sells_once_each() -> None:
    # sells by score: WIN 0.9, FAT 0.6, FADE 0.4 (WIN's 0.3 rebalance duplicate dropped)
    assert run("multi_sell") == [[("WIN", "sell"), ("FAT", "sell"), ("FADE", "sell")]]


def test_mixed_strategy_one_or_two_sells_with_one_or_two_buys() -> None:
    assert run("mixed_strategy") == [
        [("WIN", "sell"), ("NEW", "buy")], [("WIN", "sell"), ("NEW", "buy"), ("DIP", "buy")],
        [("WIN", "sell"), ("FAT", "sell"), ("NEW", "buy")],
        [("WIN", "sell"), ("FAT", "sell"), ("NEW", "buy"), ("DIP", "buy")]]


def test_opportunity_first_funds_entries_with_sells_when_cash_is_short() -> None:
    # entries NEW (100 x 10 = 1000) + NEW2 (100) = 1100 > cash 1000: one sell (WIN, 100) covers the 100 short
    assert run("opportunity_first") == [[("NEW", "buy"), ("NEW2", "buy")],
                                        [("WIN", "sell"), ("NEW", "buy"), ("NEW2", "buy")]]
    rich = ctx({"X": 1.0}, cash=5_000)
    assert run("opportunity_first", rich) == [[("NEW", "buy"), ("NEW2", "buy")]]


def test_deep_rebalance_all_weight_based_sells_first() -> None:
    assert run("deep_rebalance") == [[("FAT", "sell"), ("NEW", "buy")]]


def test_cash_generation_only_below_the_reserve_and_only_enough() -> None:
    # equity 1000 (cash 0 + 100 X at 10), reserve 5% = 50: WIN's 100 of proceeds is enough
    short = ctx({"X": 10.0}, [holding("X", 100, 10)], cash=0, params={"targets.cash_reserve": 0.05})
    assert run("cash_generation", short) == [[("WIN", "sell")]]
    assert run("cash_generation", ctx({"X": 10.0}, cash=1_000)) == []


def test_cost_optimised_prefers_score_per_cost() -> None:
    # fixed 1, prop 0.0005: score * notional / cost -> NEW (0.8 x 1000 / 1.5) leads, then WIN (0.9 x 100 / 1.05)
    assert run("cost_optimised") == [[("NEW", "buy")], [("WIN", "sell")], [("NEW", "buy"), ("WIN", "sell")]]


def test_adaptive_picks_buys_when_cash_is_idle_and_sells_when_short() -> None:
    idle = ctx({"X": 10.0}, [holding("X", 10, 10)], cash=900, params={"sequences.max_depth": 2})
    assert run("adaptive", idle) == [[("NEW", "buy"), ("DIP", "buy")]]
    short = ctx({"X": 10.0}, [holding("X", 100, 10)], cash=10, params={"sequences.max_depth": 2,
                                                                         "targets.cash_reserve": 0.05})
    assert run("adaptive", short) == [[("WIN", "sell"), ("FAT", "sell")]]


def test_market_regime_follows_bull_bear_sideways_and_sensitivity() -> None:
    params = {"sequences.max_depth": 2, "regime.sensitivity": 0.8}
    bull = ctx({"X": 1.0}, stance="bull", params=params)
    bear = ctx({"X": 1.0}, stance="bear", params=params)
    side = ctx({"X": 1.0}, stance="sideways", params=params)
    deaf = ctx({"X": 1.0}, stance="bull", params={**params, "regime.sensitivity": 0.1})
    assert run("market_regime", bull) == [[("NEW", "buy"), ("NEW2", "buy")]]
    assert run("market_regime", bear) == [[("WIN", "sell"), ("FAT", "sell")]]
    assert run("market_regime", side) == [[("FAT", "sell"), ("THIN", "buy")]]
    assert run("market_regime", deaf) == []
