"""The tuner's search space stays within the workbook's limits; the backtest validation's folds are cut from
the held-out tail and capped, and its gain has a floor (no backtest runs here: see
tests/integration/test_tuning_tuner_backtest.py for whole tuning runs)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from engine.planner.api import load_preset
from engine.tuning.backtest_validation import MAX_FOLD_BARS, BacktestSetup, Measure, gain, windows
from engine.tuning.edit import edited, kv_value
from engine.tuning.tuner import decide, search_space
from engine.tuning.validation import ValidationConfig, ValidationReport
from tests.tuning_fixtures import FOLDS, poor_version, trend_frames


def test_search_space_respects_expansion_and_bounds() -> None:
    cur = poor_version()
    for key, lo, hi, _integer in search_space(cur):
        v = float(kv_value(cur, key))  # type: ignore[arg-type]
        assert v - abs(v) * 0.2 - 1e-9 <= lo <= v <= hi <= v + abs(v) * 0.2 + 1e-9


def test_folds_are_the_held_out_tail_capped_with_warm_up_before() -> None:
    ts = pd.Series(pd.date_range("2026-01-05", periods=5000, freq="min", tz="UTC"))
    frames = trend_frames(10)
    cfg = ValidationConfig.of(edited(poor_version(), {FOLDS: 4}))  # validation_split 0.2: the last 1,000 bars
    wins = windows(ts, cfg, BacktestSetup(frames, "IDX", load_preset("default")))
    assert [w.fold for w in wins] == [1, 2, 3, 4]
    ends = [ts[4000 + 250 * k - 1] for k in range(1, 5)]  # folds of 250 bars, each traded over its newest 120
    assert [w.end for w in wins] == ends and all(w.bars == MAX_FOLD_BARS for w in wins)
    assert [w.start for w in wins] == [ts[4000 + 250 * k - MAX_FOLD_BARS] for k in range(1, 5)]
    assert all(w.warm_from == ts[ts[ts == w.start].index[0] - 300] for w in wins)
    many = ValidationConfig.of(edited(poor_version(), {FOLDS: 30}))  # 30 folds of 33: the per-version cap
    capped = windows(ts, many, BacktestSetup(frames, "IDX", load_preset("default"), max_version_bars=300))
    assert len(capped) == 30 and {w.bars for w in capped} == {30}  # 300 // 30 = 10, floored at MIN_FOLD_BARS


def test_gain_floor_and_measure() -> None:
    assert gain(np.array([2.0, 4.0]), np.array([0.0, 0.0])) == pytest.approx(3.0)  # over cash: in ratio units
    assert gain(np.array([3.0, 3.0]), np.array([2.0, 2.0])) == pytest.approx(0.5)
    assert gain(np.array([-1.0]), np.array([-2.0])) == pytest.approx(0.5)  # less negative is a gain
    assert math.isnan(gain(np.array([]), np.array([])))
    m = Measure.of(poor_version())  # ACCURACY / STABILITY: the workbook's defaults
    assert (m.primary, m.secondary) == ("sharpe", "max_drawdown")
    flat = pd.Series(1e6, index=pd.date_range("2026-01-05", periods=40, freq="B", tz="UTC"))
    assert m.score(flat, 252.0) == (0.0, 0.0)  # never traded: cash's score


def test_only_a_backtest_gain_of_target_improvement_makes_a_proposal() -> None:
    """The folds' lead passes the significance gate (diffs 1.0, 1.2: t = 1.1 / (0.1414 / sqrt 2) = 11 with one
    degree of freedom, a Cauchy law: p = 1/2 - atan(11)/pi = 0.0289 < 0.05), so the gain alone decides here;
    the gate itself: tests/integration/test_tuning_significance_gate.py."""
    folds = pd.DataFrame({"fold": [1, 2], "current": [1.0, 1.0], "candidate": [2.0, 2.2]})
    assert f"{0.5 - math.atan(11.0) / math.pi:.3g}" == "0.0289"
    assert not decide(ValidationReport(folds, gain=0.5, alpha=0.05), True, 0.05)[0]  # a replay validation never decides
    bt = ValidationReport(folds, gain=0.05, source="backtest", measure="backtest sharpe", alpha=0.05)
    assert decide(bt, True, 0.05) == (True, "out-of-sample backtest gain +5.0% (backtest sharpe) vs the required 5%; "
                                            "significant: p=0.0289 < 0.05 (paired t-test vs the current version "
                                            "over 2 folds)")
    assert not decide(ValidationReport(folds, gain=0.0499, source="backtest", alpha=0.05), True, 0.05)[0]
    assert decide(bt, False, 0.05) == (False, "no trial changed a parameter; out-of-sample backtest gain +5.0% "
                                              "(backtest sharpe) vs the required 5%")
    nan = decide(ValidationReport(folds, source="backtest", note="not enough history for one fold", alpha=0.05),
                 True, 0.05)
    assert nan == (False, "no out-of-sample backtest gain measurable: not enough history for one fold")
