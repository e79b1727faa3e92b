"""Target weights from recent history through PyPortfolioOpt (inverse volatility, HRP risk parity, minimum
variance) or fixed per symbol from a CSV; then per-position limits and the preset's cash reserve.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd
from pypfopt import HRPOpt, risk_models
from pypfopt.efficient_frontier import EfficientFrontier

from engine.planner.preset import refuse_fixed_targets

log = logging.getLogger(__name__)


def cap_weights(weights: Mapping[str, float], max_weight: float, total: float) -> dict[str, float]:
    """Scale to `total`, then clip each at max_weight and hand the excess to the others (bounded loop)."""
    w = {s: max(0.0, float(v)) for s, v in weights.items() if v > 0}
    if not w:
        return {}
    total = min(total, max_weight * len(w))
    norm = sum(w.values())
    w = {s: v / norm * total for s, v in w.items()}
    capped: set[str] = set()
    for _ in range(len(w)):  # each round caps at least one more name
        over = {s for s, v in w.items() if s not in capped and v > max_weight + 1e-12}
        if not over:
            break
        excess = sum(w[s] - max_weight for s in over)
        capped |= over
        for s in over:
            w[s] = max_weight
        free = {s: v for s, v in w.items() if s not in capped}
        room = sum(free.values())
        if room <= 0:
            break
        for s, v in free.items():
            w[s] = v + excess * v / room
    return w


def optimise(method: str, closes: pd.DataFrame, max_weight: float) -> dict[str, float]:
    """Raw weights (summing to 1) for the columns of `closes` by the given method."""
    returns = closes.pct_change(fill_method=None).dropna(how="all").fillna(0.0)
    moves = (returns.std(ddof=1) > 0).to_numpy()  # False: no volatility (or too few returns): no weight
    flat = [c for c, ok in zip(closes.columns.tolist(), moves.tolist(), strict=True) if not ok]
    if flat:
        log.warning("target weights: no weight for %s: no measurable volatility (constant closes: stale or halted)",
                    ", ".join(map(str, flat)))
        closes, returns = closes.drop(columns=flat), returns.drop(columns=flat)
    cols = list(closes.columns)
    if len(cols) <= 1:
        return {str(c): 1.0 for c in cols}
    if method == "risk_parity":
        return {str(k): float(v) for k, v in HRPOpt(returns).optimize().items()}
    if method == "inverse_volatility":
        return _inverse_volatility(returns.to_numpy(dtype=float), list(returns.columns))
    cov = risk_models.sample_cov(closes, frequency=252, fix_method="spectral")
    if method == "min_variance":
        bound = max(max_weight, 1.0 / len(cols) + 1e-6)
        try:
            ef = EfficientFrontier(None, cov, weight_bounds=(0, bound))
            return {str(k): float(v) for k, v in ef.min_volatility().items()}
        except Exception as exc:  # noqa: BLE001 - solver failure: fall back to inverse volatility, logged
            log.warning("minimum variance failed (%s); using inverse volatility", exc)
    vol = np.sqrt(np.clip(np.diag(cov.to_numpy()), 1e-12, None))
    inv = 1.0 / vol
    return {str(s): float(v / inv.sum()) for s, v in zip(cov.columns, inv, strict=True)}


def _moving(values: np.ndarray, keep: list[int], names: list[str]) -> list[int]:
    """`keep` without the columns whose closes never moved (a stale or halted name: zero volatility).

    Such a name has no measurable risk, not zero risk: inverse volatility and minimum variance gave it the
    largest weight, and HRP raised on its undefined correlation. It gets no weight (logged with the reason)."""
    if not keep:
        return keep
    with np.errstate(invalid="ignore"):
        flat = np.nanmax(values[:, keep], axis=0) == np.nanmin(values[:, keep], axis=0)
    if not flat.any():
        return keep
    log.warning("target weights: no weight for %s: the closes did not move over the window (stale or halted)",
                ", ".join(names[i] for i, f in zip(keep, flat.tolist(), strict=True) if f))
    return [i for i, f in zip(keep, flat.tolist(), strict=True) if not f]


def _inverse_volatility(returns: np.ndarray, columns: list[str]) -> dict[str, float]:
    """Weights by 1 / annualised volatility: the diagonal of pypfopt's sample_cov (its spectral fix only
    when the covariance is not positive semidefinite), without building the rest of that frame."""
    cov = np.atleast_2d(np.cov(returns, rowvar=False)) * 252
    try:
        np.linalg.cholesky(cov + 1e-16 * np.eye(len(cov)))
    except np.linalg.LinAlgError:
        cov = risk_models.fix_nonpositive_semidefinite(pd.DataFrame(cov), fix_method="spectral").to_numpy()
    inv = 1.0 / np.sqrt(np.clip(np.diag(cov), 1e-12, None))
    return {str(s): float(v / inv.sum()) for s, v in zip(columns, inv, strict=True)}


def target_weights(method: str, closes: pd.DataFrame, universe: list[str], max_weight: float, invested: float,
                   fixed: Mapping[str, float] | None = None, values: np.ndarray | None = None) -> dict[str, float]:
    """Weights of equity per symbol; they sum to at most `invested` and none exceeds max_weight.

    method "fixed" without `fixed` weights raises PresetError: no plan rather than a plan selling everything.
    `values`: `closes` as a float array, when the caller has it (the plan context): the universe's columns
    are then taken from it, without selecting them from the frame (the same numbers)."""
    if method == "fixed" and fixed is None:  # no weights given: every target 0% would sell every holding
        refuse_fixed_targets("planner: the preset in force", {"targets.method": method})
    if fixed is not None:
        return cap_weights(dict(fixed or {}), max_weight, min(invested, sum((fixed or {}).values())))
    present = [s for s in universe if s in closes.columns]
    if values is not None and closes.columns.is_unique:
        position = {s: i for i, s in enumerate(closes.columns.tolist())}
        values = values[:, [position[s] for s in present]]
    else:
        values = closes[present].to_numpy(dtype=float)  # one pass over the frame, not one per symbol
    keep = [i for i, n in enumerate((~np.isnan(values)).sum(axis=0)) if n > 10]
    keep = _moving(values, keep, present)
    usable = [present[i] for i in keep]
    if not usable:
        return {}
    if method == "inverse_volatility" and len(keep) > 1 and not np.isnan(values[:, keep]).any():
        complete = values[:, keep]  # complete closes: the returns without pandas (the context's common case)
        with np.errstate(divide="ignore", invalid="ignore"):  # a zero close gives inf, as pandas' pct_change
            raw = _inverse_volatility(complete[1:] / complete[:-1] - 1.0, usable)
    else:
        raw = optimise(method, closes[usable].ffill().dropna(), max_weight)
    return cap_weights(raw, max_weight, invested)
