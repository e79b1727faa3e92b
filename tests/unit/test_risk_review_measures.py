"""Parametric and historical VaR share one mean/horizon convention and always report a loss (>= 0),
CVaR >= VaR; expectations from scipy's normal computed here, on hand-made series."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from engine.portfolio_risk import measures


@pytest.mark.parametrize(("level", "horizon"), [(0.95, 1.0), (0.99, 1.0), (0.95, 390.0), (0.99, 4.0)])
def test_parametric_is_the_one_bar_normal_figure_times_sqrt_horizon(level: float, horizon: float) -> None:
    returns = np.array([[0.010], [-0.020], [0.005], [-0.015], [0.030], [-0.010], [0.000], [0.012]])
    value = 10_000.0
    pnl = returns[:, 0] * value
    mu, sd = sum(pnl) / len(pnl), math.sqrt(sum((x - sum(pnl) / len(pnl)) ** 2 for x in pnl) / (len(pnl) - 1))
    z = stats.norm.ppf(1 - level)
    var = -(mu + z * sd) * math.sqrt(horizon)
    cvar = -(mu - sd * stats.norm.pdf(z) / (1 - level)) * math.sqrt(horizon)
    f = measures.parametric(returns, np.array([value]), level, horizon=horizon)
    assert f.var == pytest.approx(var, rel=1e-9) and f.cvar == pytest.approx(cvar, rel=1e-9)
    assert f.cvar >= f.var > 0


def test_a_gain_at_the_confidence_reads_zero_and_cvar_keeps_its_own_tail() -> None:
    # mean 2, sigma 1: the 5% quantile is 2 - 1.645 = +0.355 (a gain) -> VaR 0; the tail mean 2 - 2.063 is a loss
    z = stats.norm.ppf(0.05)
    tail_mean = 2.0 - stats.norm.pdf(z) / 0.05
    f = measures.gaussian(2.0, 1.0, (0.95,), horizon=1.0)[0]
    assert 2.0 + z > 0 and tail_mean < 0
    assert f.var == 0.0 and f.cvar == pytest.approx(-tail_mean, rel=1e-12)


def test_minute_drift_does_not_turn_the_parametric_var_into_a_gain() -> None:
    # the review's case: with 390 bars a day, mu x 390 outgrew 1.645 sigma x sqrt(390) (VaR -$3,816 vs hist $27,153)
    rng = np.random.default_rng(0)
    returns = rng.normal(0.0005, 0.002, size=(500, 1))
    values = np.array([100_000.0])
    pnl = returns[:, 0] * values[0]
    assert pnl.mean() * 390 > 1.645 * pnl.std(ddof=1) * math.sqrt(390)  # the old convention: a gain
    hist = measures.historical(measures.portfolio_pnl(returns, values), 0.95, horizon=390.0)
    par = measures.parametric(returns, values, 0.95, horizon=390.0)
    z = stats.norm.ppf(0.05)
    assert par.var == pytest.approx(-(pnl.mean() + z * pnl.std(ddof=1)) * math.sqrt(390), rel=1e-9)
    assert hist.var > 0 and par.var > 0 and par.var == pytest.approx(hist.var, rel=0.25)


@pytest.mark.parametrize("level", measures.LEVELS)
def test_strong_positive_drift_gives_cvar_ge_var_ge_zero_in_both_methods(level: float) -> None:
    returns = np.array([[0.010], [0.012], [0.009], [0.011], [0.013], [0.010], [0.008], [0.012]] * 5)
    values = np.array([50_000.0])
    hist = measures.historical(measures.portfolio_pnl(returns, values), level, horizon=390.0)
    par = measures.parametric(returns, values, level, horizon=390.0)
    for f in (hist, par):
        assert f.cvar >= f.var >= 0
    assert hist.var == 0.0 and hist.cvar == 0.0  # every bar gains: nothing to lose at any confidence
    assert par.var == 0.0  # mean 0.010625 vs sigma ~0.0016: even the 1% quantile is a gain
