"""Each opportunity calculator on a small hand-made portfolio, expectations computed by hand."""
from __future__ import annotations

from engine.planner.registry import CALCULATORS
from tests.unit.planner_helpers import ctx, holding


def calc(name: str, c) -> list:  # type: ignore[no-untyped-def]
    return CALCULATORS.get(name)(c)


def test_all_seven_calculators_are_registered() -> None:
    assert set(CALCULATORS.names()) == {"profit_taking", "averaging_down", "opportunity_buys", "rebalance_sells",
                                        "rebalance_buys", "weight_based", "trend"}


def test_profit_taking_sells_the_windfall_fraction_only() -> None:
    # WIN: avg 100 -> 140 (+40% >= 30%); SMALL: +10% (no); sell_fraction 0.5 of 101 shares -> 50
    c = ctx({"WIN": 140.0, "SMALL": 110.0}, [holding("WIN", 101, 100), holding("SMALL", 10, 100)], cash=0,
            params={"calculators.profit_taking.windfall_threshold": 0.3, "calculators.profit_taking.sell_fraction": 0.5})
    out = calc("profit_taking", c)
    assert [(a.symbol, a.side, a.qty) for a in out] == [("WIN", "sell", 50.0)]
    assert "+40%" in out[0].reason and abs(out[0].score - 0.4 / 0.6) < 1e-9


def test_averaging_down_adds_half_within_the_weight_cap_only_with_quality() -> None:
    # DIP: avg 100 -> 80 (-20% >= 15%), quality 0.2 >= 0; equity = 100*80 + 10*50 + 91_500 = 100_000
    # half the position = 50 shares; room to max_weight 0.2: (0.2 - 0.08) * 100_000 / 80 = 150 -> 50 shares
    # BAD: -50% but quality -0.5 < 0 -> nothing
    c = ctx({"DIP": 80.0, "BAD": 50.0}, [holding("DIP", 100, 100), holding("BAD", 10, 100)], cash=91_500,
            quality={"DIP": 0.2, "BAD": -0.5},
            params={"calculators.averaging_down.dip_threshold": 0.15, "calculators.averaging_down.min_quality": 0.0,
                    "targets.max_weight": 0.2})
    assert [(a.symbol, a.side, a.qty) for a in calc("averaging_down", c)] == [("DIP", "buy", 50.0)]
    tight = ctx({"DIP": 80.0}, [holding("DIP", 100, 100)], cash=2_000, quality={"DIP": 0.2},
                params={"targets.max_weight": 0.9})
    # equity 10_000, room (0.9 - 0.8) * 10_000 / 80 = 12.5 -> 12 shares (< 50)
    assert [a.qty for a in calc("averaging_down", tight)] == [12.0]


def test_opportunity_buys_open_unheld_quality_targets_to_their_weight() -> None:
    # equity 10_000 cash; NEW target 25% at 40 -> 2500/40 = 62 shares; LOW quality 0.1 < 0.3; HELD is held
    c = ctx({"NEW": 40.0, "LOW": 10.0, "HELD": 10.0}, [holding("HELD", 1, 10)], cash=9_990,
            quality={"NEW": 0.8, "LOW": 0.1, "HELD": 0.9}, targets={"NEW": 0.25, "LOW": 0.25, "HELD": 0.25},
            params={"calculators.opportunity_buys.min_quality": 0.3})
    assert [(a.symbol, a.side, a.qty) for a in calc("opportunity_buys", c)] == [("NEW", "buy", 62.0)]


def test_rebalance_sells_trim_overweights_beyond_the_band() -> None:
    # equity 10_000: BIG 40% vs target 20% -> sell (0.2 * 10_000) / 50 = 40; ODD 10% vs 0% target, band 5% -> sell all 20
    # FAIR 20% vs 18%: inside the band
    c = ctx({"BIG": 50.0, "ODD": 50.0, "FAIR": 100.0},
            [holding("BIG", 80, 50), holding("ODD", 20, 50), holding("FAIR", 20, 100)], cash=3_000,
            targets={"BIG": 0.2, "FAIR": 0.18}, params={"calculators.rebalance_sells.band": 0.05})
    out = {a.symbol: (a.side, a.qty) for a in calc("rebalance_sells", c)}
    assert out == {"BIG": ("sell", 40.0), "ODD": ("sell", 20.0)}


def test_rebalance_buys_top_up_held_underweights_only() -> None:
    # equity 10_000: LOW 5% vs target 20% -> buy 1500/25 = 60; NEW (unheld) is opportunity_buys' job
    c = ctx({"LOW": 25.0, "NEW": 10.0}, [holding("LOW", 20, 25)], cash=9_500, targets={"LOW": 0.2, "NEW": 0.2},
            params={"calculators.rebalance_buys.band": 0.05})
    assert [(a.symbol, a.side, a.qty) for a in calc("rebalance_buys", c)] == [("LOW", "buy", 60.0)]


def test_weight_based_moves_every_name_to_target_when_the_gap_is_worth_it() -> None:
    # equity 10_000: A 30% -> 10% sell 2000/100 = 20; B 0% -> 15% buy 1500/30 = 50; C gap 0.5% < 1%: nothing
    c = ctx({"A": 100.0, "B": 30.0, "C": 10.0}, [holding("A", 30, 100), holding("C", 50, 10)], cash=6_500,
            targets={"A": 0.1, "B": 0.15, "C": 0.055}, params={"calculators.weight_based.min_trade_weight": 0.01})
    out = {a.symbol: (a.side, a.qty) for a in calc("weight_based", c)}
    assert out == {"A": ("sell", 20.0), "B": ("buy", 50.0)}


def test_trend_keeps_todays_rule_weights_proportional_to_signal_capped() -> None:
    # signals UP 0.6, MID 0.2, DOWN -0.5 (-> 0); invested = sum(targets) = 0.8; proportional 0.6 : 0.2
    # -> UP 0.6, MID 0.2, cap 0.5 -> UP 0.5, MID 0.3 (excess to the uncapped); equity 10_000 cash
    c = ctx({"UP": 10.0, "MID": 10.0, "DOWN": 10.0}, [holding("DOWN", 100, 10)], cash=9_000,
            quality={"UP": 0.6, "MID": 0.2, "DOWN": -0.5}, targets={"UP": 0.4, "MID": 0.4},
            params={"calculators.trend.min_signal": 0.1, "targets.max_weight": 0.5,
                    "calculators.weight_based.min_trade_weight": 0.01})
    out = {a.symbol: (a.side, a.qty) for a in calc("trend", c)}
    assert out == {"UP": ("buy", 500.0), "MID": ("buy", 300.0), "DOWN": ("sell", 100.0)}


def test_calculators_skip_symbols_with_open_orders_or_no_price() -> None:
    from dataclasses import replace

    c = ctx({"WIN": 140.0}, [holding("WIN", 100, 100)])
    c.state = replace(c.state, open_symbols=frozenset({"WIN"}))
    assert calc("profit_taking", c) == []
