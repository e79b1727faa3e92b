"""VaR and CVaR of a linear book, as positive losses in account currency.

Definitions follow empyrical (the oracle in the tests): historical VaR is the (1 - level)
percentile of the P&L with linear interpolation; historical CVaR is the mean of the lowest
floor((n - 1) * (1 - level)) + 1 outcomes. Parametric (Gaussian) uses the sample mean and
covariance of the same returns: VaR = -(mu + z * sigma), CVaR = -(mu - sigma * pdf(z) / (1 - level)).
A one-bar figure becomes a one-day figure by the square root of time (`horizon` = bars per day).
"""
from __future__ import annotations

import math
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
    x = np.asarray(pnl, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        raise ValueError("no returns to compute VaR from")
    tail = 1.0 - level
    var = -float(np.percentile(x, 100.0 * tail))
    k = int((x.size - 1) * tail)
    cvar = -float(np.mean(np.partition(x, k)[: k + 1]))
    scale = math.sqrt(horizon)
    return VarFigures(level, var * scale, cvar * scale)


def parametric(returns: np.ndarray, values: np.ndarray, level: float, horizon: float = 1.0,
               cov: np.ndarray | None = None) -> VarFigures:
    """Gaussian VaR/CVaR from the returns' sample mean and covariance (mean x h, sigma x sqrt(h)).

    `cov`: the returns' sample covariance when the caller already has it (the risk cycle computes it once)."""
    r = np.asarray(returns, dtype=float)
    w = np.asarray(values, dtype=float)
    if r.shape[0] < 2:
        raise ValueError("at least two returns are needed for a covariance")
    mu = float(r.mean(axis=0) @ w) * horizon
    c = np.atleast_2d(np.cov(r, rowvar=False) if cov is None else cov)
    sigma = math.sqrt(max(float(w @ c @ w), 0.0) * horizon)
    z = _NORMAL.inv_cdf(1.0 - level)
    var = -(mu + z * sigma)
    cvar = -(mu - sigma * _NORMAL.pdf(z) / (1.0 - level))
    return VarFigures(level, var, cvar)
