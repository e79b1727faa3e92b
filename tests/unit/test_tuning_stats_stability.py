"""optimize_for STABILITY on short folds: the score is the fold's return over its drawdown, not a Calmar ratio
annualised from two hours (which scored a +0.5% fold ~1e16 and ranked a losing version first)."""
from __future__ import annotations

import empyrical
import numpy as np
import pandas as pd
import pytest

from engine.analytics.periods import infer_periods_per_year
from engine.params import default_params
from engine.tuning.backtest_validation import DRAWDOWN_FLOOR, Measure, gain
from engine.tuning.edit import edited

STABILITY = {("AdaptiveTuning", "main", "optimize_for"): "STABILITY"}


def _fold(total: float, k: int, rng: np.random.Generator, n: int = 60) -> pd.Series:
    """A minute-bar fold of `n` bars ending `total` up (or down), with noise."""
    idx = pd.date_range("2026-01-05 14:30", periods=n, freq="min", tz="UTC") + pd.Timedelta(days=k)
    steps = rng.normal(0.0, 5e-4, n - 1)
    steps += (np.log1p(total) - steps.sum()) / (n - 1)
    return pd.Series(1e6 * np.exp(np.r_[0.0, np.cumsum(steps)]), index=idx)


def _by_hand(eq: pd.Series) -> float:
    """Total return over the worst peak-to-trough fall (numpy), plus a tenth of that fall (secondary STABILITY)."""
    v = eq.to_numpy()
    mdd = float(np.min(v / np.maximum.accumulate(v) - 1.0))
    return (v[-1] / v[0] - 1.0) / max(-mdd, DRAWDOWN_FLOOR) + 0.1 * mdd


def test_short_folds_rank_the_losing_version_last() -> None:
    m = Measure.of(edited(default_params(), STABILITY))
    rng = np.random.default_rng(0)
    losing = [_fold(0.01, 0, rng)] + [_fold(-0.05, k, rng) for k in range(1, 5)]  # compounds to -17.7%
    steady = [_fold(0.005, k, rng) for k in range(5)]  # compounds to +2.5%
    ppy = infer_periods_per_year(pd.DatetimeIndex(losing[0].index))
    lose = np.array([m.score(e, ppy)[0] for e in losing])
    keep = np.array([m.score(e, ppy)[0] for e in steady])
    assert np.abs(np.r_[lose, keep]).max() < 100.0  # the annualised Calmar reached 1e29
    np.testing.assert_allclose(lose, [_by_hand(e) for e in losing], rtol=1e-9)
    np.testing.assert_allclose(keep, [_by_hand(e) for e in steady], rtol=1e-9)
    assert gain(lose, keep) < 0.0 < gain(keep, lose)


def test_a_fold_of_a_year_or_more_is_the_calmar_ratio() -> None:
    m = Measure.of(edited(default_params(), STABILITY))
    rng = np.random.default_rng(5)
    idx = pd.bdate_range("2024-01-01", periods=400, tz="UTC")
    eq = pd.Series(1e6 * np.cumprod(1.0 + rng.normal(4e-4, 0.01, 400)), index=idx)
    r = eq.pct_change().iloc[1:]
    want = empyrical.calmar_ratio(r, annualization=252) + 0.1 * empyrical.max_drawdown(r)
    assert m.score(eq, 252.0)[0] == pytest.approx(want, rel=1e-9)


def test_a_fold_that_never_dips_is_finite_and_cash_scores_zero() -> None:
    m = Measure.of(edited(default_params(), STABILITY))
    idx = pd.date_range("2026-01-05 14:30", periods=60, freq="min", tz="UTC")
    rising = pd.Series(1e6 * (1.0 + 0.0001 * np.arange(60)), index=idx)  # +0.59%, no drawdown
    assert m.score(rising, 98_280.0) == pytest.approx((0.0059 / DRAWDOWN_FLOOR, 0.0059))
    assert m.score(pd.Series(1e6, index=idx), 98_280.0) == (0.0, 0.0)
