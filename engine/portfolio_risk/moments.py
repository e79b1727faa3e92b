"""The one covariance of a risk cycle: every second-moment figure of the book is read from it.

The book's names and the index are centred once and multiplied once (what np.cov does, without its
copies); correlation, parametric VaR (w'Σw), each name's sigma and its beta to the index
(cov(r_i, r_m) / var(r_m), the OLS slope) all come from this matrix instead of a covariance each.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Moments:
    mean: np.ndarray  # per name, one bar
    cov: np.ndarray  # names x names, sample (ddof 1)
    betas: np.ndarray  # per name, to the index (zeros without an index or when it is flat)
    index_var: float  # the index's sample variance (0 without an index)


def of(returns: np.ndarray, with_index: bool = False) -> Moments:
    """Moments of `returns` (T x N names, then the index's returns as one more column when `with_index`)."""
    r = np.asarray(returns, dtype=float)
    n, k = r.shape[0], r.shape[1] - int(with_index)
    if n < 2:
        return Moments(np.zeros(k), np.zeros((k, k)), np.zeros(k), 0.0)
    mean = r.mean(axis=0)
    centred = r - mean
    c = centred.T @ centred
    c *= 1.0 / (n - 1)
    if not with_index:
        return Moments(mean, c, np.zeros(k), 0.0)
    var_m = float(c[k, k])
    betas = c[:k, k] / var_m if var_m > 0 else np.zeros(k)
    return Moments(mean[:k], c[:k, :k], betas, var_m)
