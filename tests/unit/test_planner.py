"""Planner presets (0..1 knobs) and the plan they propose for a portfolio."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from engine.planner.plan import make_plan, regime_multiplier
from engine.planner.presets import KNOB_NAMES, PresetError, built_in_presets


def _trend(start: float, drift: float, n: int = 400, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return start * np.exp(np.cumsum(drift + 0.001 * rng.standard_normal(n)))


def test_built_in_presets_load_and_order_by_risk() -> None:
    presets = built_in_presets()
    assert set(presets) == {"default", "conservative", "aggressive"}
    exposure = {name: p.limits().gross_exposure for name, p in presets.items()}
    assert exposure["conservative"] < exposure["default"] < exposure["aggressive"]
    assert not presets["default"].limits().allow_short and presets["aggressive"].limits().allow_short


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan"), "high"])
def test_knobs_outside_0_1_are_refused_with_their_name(bad: object) -> None:
    base = built_in_presets()["default"]
    with pytest.raises(PresetError, match="risk_appetite"):
        base.with_knobs(risk_appetite=bad)  # type: ignore[arg-type]
    assert "risk_appetite" in KNOB_NAMES


def test_plan_buys_uptrends_and_respects_long_only_and_caps() -> None:
    closes = {"UP": _trend(100, 0.002), "DOWN": _trend(50, -0.002, seed=2)}
    default = built_in_presets()["default"].limits()
    trades = {t.symbol: t for t in make_plan(closes, {}, 1_000_000, default)}
    assert trades["UP"].order_qty > 0 and trades["UP"].signal > 0
    assert "DOWN" not in trades  # long only: a downtrend gives no short
    assert trades["UP"].target_weight <= default.max_weight + 1e-12
    aggressive = built_in_presets()["aggressive"].limits()
    trades = {t.symbol: t for t in make_plan(closes, {}, 1_000_000, aggressive)}
    assert trades["DOWN"].order_qty < 0


def test_plan_exits_a_position_whose_signal_vanished_and_skips_small_rebalances() -> None:
    limits = built_in_presets()["default"].limits()
    closes = {"DOWN": _trend(50, -0.002, seed=2)}
    trades = make_plan(closes, {"DOWN": 300.0}, 1_000_000, limits)
    assert [(t.symbol, t.target_qty, t.order_qty) for t in trades] == [("DOWN", 0.0, -300.0)]
    up = {"UP": _trend(100, 0.002)}
    first = make_plan(up, {}, 1_000_000, limits)[0]
    assert make_plan(up, {"UP": first.target_qty + 1}, 1_000_000, limits) == []


def test_regime_bias_scales_by_sensitivity_and_can_forbid_a_side() -> None:
    conservative = built_in_presets()["conservative"].limits()
    aggressive = built_in_presets()["aggressive"].limits()
    assert regime_multiplier(0.5, conservative) < regime_multiplier(0.5, aggressive) < 1.0
    assert regime_multiplier(1.0, conservative) == 1.0
    uncapped = replace(conservative, max_weight=1.0, regime_sensitivity=1.0)
    closes = {"UP": _trend(100, 0.002)}
    full = make_plan(closes, {}, 1_000_000, uncapped, bias=lambda side: 1.0)[0].target_weight
    half = make_plan(closes, {}, 1_000_000, uncapped, bias=lambda side: 0.5)[0].target_weight
    assert half == pytest.approx(full / 2)
    assert make_plan(closes, {}, 1_000_000, uncapped, bias=lambda side: 0.0 if side > 0 else 1.0) == []


def test_size_cap_bounds_what_a_trade_adds_but_not_what_it_reduces() -> None:
    limits = built_in_presets()["aggressive"].limits()
    closes = {"UP": _trend(100, 0.002)}
    capped = make_plan(closes, {"UP": 10.0}, 20_000, replace(limits, rebalance_threshold=0.0),
                       size_cap=lambda *_: 5.0)[0]
    assert capped.target_qty == 15.0 and capped.order_qty == 5.0
    down = {"DOWN": _trend(50, -0.002, seed=2)}
    exit_trade = make_plan(down, {"DOWN": 300.0}, 1_000_000, built_in_presets()["default"].limits(),
                           size_cap=lambda *_: 0.0)[0]
    assert exit_trade.order_qty == -300.0
