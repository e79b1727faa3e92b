"""End-state scoring of a simulated sequence: expected return, diversification, risk (volatility,
drawdown and CVaR of the end portfolio over recent history), cost and distance to target weights,
combined with the preset's weights. Optional Monte Carlo over bootstrapped recent daily returns
(seeded) re-scores the top candidates by their simulated CVaR.

Units: every part in percent (return, volatility, CVaR and drawdown over the preset's horizon; cost of
equity; diversification 1 - HHI of the invested weights; target distance half the L1 gap). The total
is return_weight x return - risk_weight x risk (mean of volatility, CVaR, drawdown)
+ 0.1 x diversification_weight x diversification - 10 x cost_weight x cost - 0.2 x target_weight x
distance: the fixed factors put a typical part on the scale of one percent of return.
"""
from __future__ import annotations

import math

import numpy as np

from engine.planner.context import PlanContext
from engine.planner.simulate import SimResult


def end_weights(sim: SimResult, ctx: PlanContext) -> dict[str, float]:
    equity = sim.cash + sum(q * ctx.prices.get(s, 0.0) for s, q in sim.positions.items())
    if equity <= 0:
        return {}
    return {s: q * ctx.prices.get(s, 0.0) / equity for s, q in sim.positions.items()}


def _vector(weights: dict[str, float], ctx: PlanContext) -> np.ndarray:
    w = np.zeros(len(ctx.columns))
    for symbol, weight in weights.items():
        i = ctx.columns.get(symbol)
        if i is not None:
            w[i] = weight
    return w


def cvar(returns: np.ndarray, alpha: float) -> float:
    """Expected loss (positive) in the worst 1 - alpha share of outcomes."""
    if returns.size == 0:
        return 0.0
    cut = np.quantile(returns, 1 - alpha)
    tail = returns[returns <= cut]
    return float(max(0.0, -tail.mean())) if tail.size else 0.0


def max_drawdown(returns: np.ndarray) -> float:
    if returns.size == 0:
        return 0.0
    path = np.cumprod(1 + returns)
    peak = np.maximum.accumulate(np.concatenate([[1.0], path]))[1:]
    return float(max(0.0, (1 - path / peak).max()))


def score(sim: SimResult, ctx: PlanContext) -> dict[str, float]:
    weights = end_weights(sim, ctx)
    horizon = ctx.p("scoring.horizon_days")
    w = _vector(weights, ctx)
    daily = ctx.matrix @ w if len(ctx.matrix) else np.zeros(0)
    quality, mean = ctx.quality_vector, ctx.mean_returns
    # expected return: recent mean return plus a tilt by trend quality (momentum > 0, buying dips < 0)
    tilt = ctx.p("scoring.momentum_tilt")
    expected = float(w @ (mean * horizon + 0.01 * tilt * quality * math.sqrt(horizon / 21)))
    vol = float(daily.std() * math.sqrt(horizon)) if daily.size > 1 else 0.0
    tail = cvar(daily, ctx.p("scoring.cvar_alpha")) * math.sqrt(horizon)
    drawdown = max_drawdown(daily)
    risk = (vol + tail + drawdown) / 3
    invested = [v for v in weights.values() if v > 0]
    total_w = sum(invested)
    diversification = 1 - sum((v / total_w) ** 2 for v in invested) if total_w > 0 else 0.0
    diversification *= min(1.0, total_w)  # cash diversifies nothing
    distance = 0.5 * sum(abs(weights.get(s, 0.0) - ctx.targets.get(s, 0.0)) for s in set(weights) | set(ctx.targets))
    cost = sim.costs / ctx.equity if ctx.equity > 0 else 0.0
    parts = {"return": 100 * expected, "risk": 100 * risk, "volatility": 100 * vol, "cvar": 100 * tail,
             "drawdown": 100 * drawdown, "diversification": 100 * diversification, "cost": 100 * cost,
             "target_distance": 100 * distance}
    parts["total"] = (ctx.p("scoring.return_weight") * parts["return"] - ctx.p("scoring.risk_weight") * parts["risk"]
                      + 0.1 * ctx.p("scoring.diversification_weight") * parts["diversification"]
                      - 10 * ctx.p("scoring.cost_weight") * parts["cost"]
                      - 0.2 * ctx.p("scoring.target_weight") * parts["target_distance"])
    return parts


def monte_carlo(sim: SimResult, ctx: PlanContext, rng: np.random.Generator) -> dict[str, float]:
    """Bootstrapped horizon returns of the end portfolio: mean and CVaR (percent)."""
    if len(ctx.returns) < 2:
        return {"mc_return": 0.0, "mc_cvar": 0.0}
    w = _vector(end_weights(sim, ctx), ctx)
    paths, horizon = int(ctx.p("scoring.mc_paths")), int(ctx.p("scoring.horizon_days"))
    daily = ctx.matrix @ w
    draws = daily[rng.integers(0, len(daily), size=(paths, horizon))]
    outcomes = np.prod(1 + draws, axis=1) - 1
    return {"mc_return": 100 * float(outcomes.mean()), "mc_cvar": 100 * cvar(outcomes, ctx.p("scoring.cvar_alpha"))}
