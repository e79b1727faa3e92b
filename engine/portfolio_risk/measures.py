"""VaR and CVaR of a linear book, as losses in account currency (>= 0).

Definitions follow empyrical (the oracle in the tests): historical VaR is the (1 - level)
percentile of the P&L with linear interpolation; historical CVaR is the mean of the lowest
floor((n - 1) * (1 - level)) + 1 outcomes. Parametric (Gaussian) uses the sample mean and
covariance of the same returns: VaR = -(mu + z * sigma), CVaR = -(mu - sigma * pdf(z) / (1 - level)).

One convention for the mean and the horizon in both methods: the one-bar figure (its mean included,
as the historical P&L cannot be split from its mean) becomes a one-day figure by the square root of
time (`horizon` = bars per day). The drift is deliberately not scaled by the horizon: with minute
bars (h = 390) a noisy sample mean x h outgrew sigma x sqrt(h) and turned the parametric VaR into a
gain while the historical one showed a loss.

A figure is a loss: when the P&L at that confidence is a gain (a strong drift over few, quiet
returns) the VaR reads 0, and the CVaR is never below the VaR (it averages the tail beyond it).
"""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

LEVELS = (0.95, 0.99)
_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class VarFigures:
    """VaR and CVaR at one confidence level, as positive losses (0 = no loss at that level)."""

    level: float
    var: float
    cvar: float


def portfolio_pnl(returns: np.ndarray, values: np.ndarray) -> np.ndarray:
    """P&L per observation of a book holding signed `values` (qty x price) through `returns` (T x N)."""
    return np.asarray(returns, dtype=float) @ np.asarray(values, dtype=float)


def historical(pnl: np.ndarray, level: float, horizon: float = 1.0) -> VarFigures:
    """Historical VaR/CVaR of a P&L series, scaled by sqrt(horizon)."""
    return historical_levels(pnl, (level,), horizon)[0]


def historical_levels(pnl: np.ndarray, levels: Sequence[float], horizon: float = 1.0) -> list[VarFigures]:
    """Historical VaR/CVaR at each level from one sort of the P&L (the risk cycle asks for two levels)."""
    x = np.asarray(pnl, dtype=float)
    x = np.sort(x[~np.isnan(x)] if np.isnan(x).any() else x)
    if x.size == 0:
        raise ValueError("no returns to compute VaR from")
    scale = math.sqrt(horizon)
    out = []
    for level in levels:
        tail = 1.0 - level
        k = int((x.size - 1) * tail)
        cvar = -float(x[: k + 1].sum()) / (k + 1)  # np.mean's own sum and division, without its overhead
        out.append(_as_loss(level, -_percentile_sorted(x, 100.0 * tail) * scale, cvar * scale))
    return out


def _as_loss(level: float, var: float, cvar: float) -> VarFigures:
    """The figures as losses: a gain at that confidence reads 0 (no loss), and CVaR >= VaR even after rounding."""
    var = max(var, 0.0)
    return VarFigures(level, var, max(cvar, var))


def _percentile_sorted(x: np.ndarray, pct: float) -> float:
    """np.percentile(x, pct) (method 'linear') of an already sorted x, with numpy's own arithmetic."""
    n = x.size
    virtual = (n - 1) * (pct / 100.0)
    if virtual >= n - 1:
        return float(x[-1])
    if virtual < 0:
        return float(x[0])
    lo = math.floor(virtual)
    a, b, gamma = float(x[lo]), float(x[lo + 1]), virtual - lo
    diff = b - a
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma


def parametric(returns: np.ndarray, values: np.ndarray, level: float, horizon: float = 1.0,
               cov: np.ndarray | None = None) -> VarFigures:
    """Gaussian VaR/CVaR from the returns' sample mean and covariance (the one-bar figure x sqrt(h)).

    `cov`: the returns' sample covariance when the caller already has it (the risk cycle computes it once)."""
    r = np.asarray(returns, dtype=float)
    w = np.asarray(values, dtype=float)
    if r.shape[0] < 2:
        raise ValueError("at least two returns are needed for a covariance")
    c = np.atleast_2d(np.cov(r, rowvar=False) if cov is None else cov)
    return gaussian(float(r.mean(axis=0) @ w), float(w @ c @ w), (level,), horizon)[0]


def gaussian(mu: float, variance: float, levels: Sequence[float], horizon: float = 1.0) -> list[VarFigures]:
    """Gaussian VaR/CVaR of a one-bar P&L with mean `mu` and `variance` (w'Σw), per level.

    Mean and sigma are both scaled by sqrt(horizon), as the historical method scales its one-bar
    quantile (see the module docstring: the drift is not multiplied by the horizon)."""
    scale = math.sqrt(horizon)
    sigma = math.sqrt(max(variance, 0.0))
    out = []
    for level in levels:
        z, pdf = _quantile(level)
        out.append(_as_loss(level, -(mu + z * sigma) * scale, -(mu - sigma * pdf / (1.0 - level)) * scale))
    return out


@functools.lru_cache(maxsize=16)
def _quantile(level: float) -> tuple[float, float]:
    """(z, pdf(z)) of the standard normal at the lower tail 1 - level, computed once per level."""
    z = _NORMAL.inv_cdf(1.0 - level)
    return z, _NORMAL.pdf(z)
