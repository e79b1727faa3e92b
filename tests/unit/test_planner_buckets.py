"""Buckets: each planned with its own preset on its own symbols and share of cash; never cross-spend."""
from __future__ import annotations

import pytest

from engine.planner.planner import build_planner
from engine.planner.preset import PresetError, parse_preset
from engine.planner.synthetic import portfolio

SPLIT = """
name = "split"
[buckets.core]
share = 0.7
preset = "conservative"
[buckets.satellite]
share = 0.3
preset = "aggressive"
symbols = ["S30", "S31", "S32", "S33", "S34", "S35", "S36", "S37", "S38", "S39"]
"""


def test_buckets_plan_apart_and_never_spend_each_others_cash() -> None:
    preset = parse_preset(SPLIT, "split.toml", "split")
    state = portfolio(positions=30, symbols=60, cash=40_000.0, seed=1)
    result = build_planner(preset).plan(state)
    assert result.buckets == {"core": "conservative", "satellite": "aggressive"}
    satellite = set(preset.buckets[1].symbols)
    by_bucket: dict[str, float] = {"core": 0.0, "satellite": 0.0}
    for s in result.steps:
        assert (s.symbol in satellite) == (s.bucket == "satellite")
        by_bucket[s.bucket] += (s.notional - s.cost) if s.side == "sell" else -(s.notional + s.cost)
    # net spend of each bucket is at most its cash share (its sells may add to it, never the other's)
    assert -by_bucket["core"] <= 0.7 * 40_000.0 + 1e-6
    assert -by_bucket["satellite"] <= 0.3 * 40_000.0 + 1e-6
    assert any(s.bucket == "satellite" for s in result.steps)
    assert all(s.cash_after >= 0 for s in result.steps)
    sides = [s.side for s in result.steps]
    assert sides == sorted(sides, key=lambda x: x != "sell")


def test_a_satellite_without_cash_share_buys_nothing_unfunded() -> None:
    preset = parse_preset(SPLIT.replace("share = 0.3", "share = 0.0001"), "split.toml", "split")
    state = portfolio(positions=0, symbols=60, cash=40_000.0, seed=1)  # nothing to sell anywhere
    result = build_planner(preset).plan(state)
    spent = sum(s.notional + s.cost for s in result.steps if s.bucket == "satellite")
    assert spent <= 0.0001 * 40_000.0


@pytest.mark.parametrize("text, expected", [
    ("[buckets.a]\nshare = 0.8\n[buckets.b]\nshare = 0.5\nsymbols = ['X']", "sums to 1.3"),
    ("[buckets.a]\nshare = 0.5\n[buckets.b]\nshare = 0.5", "only one bucket (the core)"),
    ("[buckets.a]\nshare = 0.5\npreset = 'wild'", "'buckets.a.preset' = 'wild'"),
])
def test_bucket_tables_are_validated(text: str, expected: str) -> None:
    with pytest.raises(PresetError, match="b.toml") as err:
        parse_preset(text, "b.toml", "b")
    assert expected in str(err.value)
