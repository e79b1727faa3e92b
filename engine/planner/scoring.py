"""End-state scoring of a simulated sequence: expected return, diversification, risk (volatility,
drawdown and CVaR of the end portfolio over recent history), cost and distance to target weights,
combined with the preset's weights. Optional Monte Carlo over bootstrapped recent daily returns
(seeded) re-scores the top candidates by their simulated CVaR.

Units: every part in percent (return, volatility, CVaR and drawdown over the preset's horizon; cost of
equity; diversification 1 - HHI of the invested weights, times the invested share up to the targets'; target
distance half the L1 gap; exposure gap half the invested share above the targets' share, 0 when the targets hold
nothing). The total
is return_weight x scored return - risk_weight x scored risk (mean of volatility, CVaR, drawdown)
+ 0.1 x diversification_weight x diversification - 10 x cost_weight x cost - 0.2 x target_weight x
(distance + exposure gap): the fixed factors put a typical part on the scale of one percent of return.

How much to invest is the targets' decision (cash reserve, max weight, universe, regime), not the scoring's. The
scored return and risk are those of the end portfolio with its shortfall below the targets' invested share counted
as held in the targets' mix ("shortfall", percent of equity; "scored_return" / "scored_risk" are shown only when
there is one). Risk is nearly proportional to exposure, so scoring cash below the targets as riskless made every
stock lose to cash whenever the risk weight outweighed the pull of the targets: a cautious slider, few names or a
small diversification weight sold every holding and bought nothing. Now the risk weight chooses calmer names and
trades, the targets the exposure; a plan above the targets' share still carries its full risk, pays the exposure
gap and earns no diversification for the excess (that bonus grew with exposure, so a bear regime's smaller share
bought more, not less).
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


def _column_risk(daily: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of daily returns (days x candidates): volatility, CVaR and max drawdown, as cvar and
    max_drawdown compute them one at a time, in a few array operations for every candidate at once."""
    days, n = daily.shape
    if days == 0:
        return np.zeros(n), np.zeros(n), np.zeros(n)
    vol = daily.std(axis=0) if days > 1 else np.zeros(n)
    cut = np.quantile(daily, 1 - alpha, axis=0)
    tail = daily <= cut
    count = tail.sum(axis=0)
    tail_mean = np.where(tail, daily, 0.0).sum(axis=0) / np.maximum(count, 1)
    tails = np.where(count > 0, np.maximum(0.0, -tail_mean), 0.0)
    path = np.cumprod(1 + daily, axis=0)
    peak = np.maximum.accumulate(np.vstack([np.ones((1, n)), path]), axis=0)[1:]
    drawdown = np.maximum(0.0, (1 - path / peak).max(axis=0))
    return vol, tails, drawdown


def target_fill(invested: np.ndarray, ctx: PlanContext) -> tuple[np.ndarray, np.ndarray]:
    """(shortfall, mix): per candidate, the share of equity it leaves uninvested below the targets' invested share,
    and the targets' weights per unit of that share (over ctx.columns); zeros when the targets hold nothing or the
    plan may not buy."""
    target = _vector(ctx.targets, ctx)
    share = float(target.sum())
    # no buy can fill it (REDUCING, HALTED, an uncertain regime's hold): the shortfall is cash, and a sale (a windfall,
    # the cover of a short) must still be worth its risk
    if share <= 0 or ctx.state.trading_state != "ACTIVE" or ctx.state.regime_hold:
        return np.zeros(len(invested)), target
    return np.maximum(0.0, share - invested), target / share


def score(sim: SimResult, ctx: PlanContext) -> dict[str, float]:
    return score_many([sim], ctx)[0]


def score_many(sims: list[SimResult], ctx: PlanContext) -> list[dict[str, float]]:
    """The scores of many simulated sequences: one matrix product and column-wise risk for all of them
    (the planner scores dozens to hundreds of candidates per plan; one at a time was its largest cost)."""
    if not sims:
        return []
    horizon = ctx.p("scoring.horizon_days")
    all_weights = [end_weights(sim, ctx) for sim in sims]
    w = np.array([_vector(weights, ctx) for weights in all_weights]).reshape(len(sims), len(ctx.columns))
    # expected return: recent mean return plus a tilt by trend quality (momentum > 0, buying dips < 0)
    tilt = ctx.p("scoring.momentum_tilt")
    per_name = ctx.mean_returns * horizon + 0.01 * tilt * ctx.quality_vector * math.sqrt(horizon / 21)
    expected = w @ per_name
    # einsum, not `@`: a matrix product would go to multithreaded BLAS, whose threads spin on a shared machine
    daily = np.einsum("dk,nk->dn", ctx.matrix, w) if len(ctx.matrix) else np.zeros((0, len(sims)))
    alpha = ctx.p("scoring.cvar_alpha")
    vol, tails, drawdowns = _column_risk(daily, alpha)
    # the shortfall below the targets' share, scored as the targets' mix (linear: one column of daily returns more)
    shortfall, mix = target_fill(np.array([sum(x for x in ws.values() if x > 0) for ws in all_weights]), ctx)
    short = np.flatnonzero(shortfall > 1e-9)
    filled_expected = expected + shortfall * float(mix @ per_name)
    filled = daily[:, short] + np.outer(ctx.matrix @ mix if len(ctx.matrix) else np.zeros(0), shortfall[short])
    filled_risk = dict(zip(short.tolist(), zip(*_column_risk(filled, alpha), strict=True), strict=True)) \
        if short.size else {}
    weights_of = {k: ctx.p(f"scoring.{k}_weight") for k in ("return", "risk", "diversification", "cost", "target")}
    share = sum(ctx.targets.values())
    out = []
    for i, (sim, weights) in enumerate(zip(sims, all_weights, strict=True)):
        v, tail, drawdown = float(vol[i]) * math.sqrt(horizon), float(tails[i]) * math.sqrt(horizon), float(drawdowns[i])
        invested = [x for x in weights.values() if x > 0]
        total_w = sum(invested)
        diversification = 1 - sum((x / total_w) ** 2 for x in invested) if total_w > 0 else 0.0
        # cash diversifies nothing; nor does exposure above the targets' share (it earned a bonus that grew with the
        # invested share: above the targets, buying was rewarded for the exposure, not the spread)
        diversification *= min(total_w, share) if share > 0 else min(1.0, total_w)
        # summed in a fixed order (the weights' symbols, then the targets' others), not a set's: a set of strings
        # iterates in an order that changes with each process's hash seed, and so would the sum's last bits
        distance = 0.5 * sum(abs(weights.get(s, 0.0) - ctx.targets.get(s, 0.0))
                             for s in dict.fromkeys([*weights, *ctx.targets]))
        # the total's excess over the targets' invested share (half, as the names' gap): the names' distance alone let
        # a plan above the share buy an underweight name (a bear regime's halved share then bought more, not less);
        # below the share the shortfall's scoring (the targets' mix) already stands for the exposure the targets ask
        gap = 0.5 * max(0.0, total_w - share) if share > 0 else 0.0
        cost = sim.costs / ctx.equity if ctx.equity > 0 else 0.0
        parts = {"return": 100 * float(expected[i]), "risk": 100 * (v + tail + drawdown) / 3, "volatility": 100 * v,
                 "cvar": 100 * tail, "drawdown": 100 * drawdown, "diversification": 100 * diversification,
                 "cost": 100 * cost, "target_distance": 100 * distance, "exposure_gap": 100 * gap}
        if i in filled_risk:
            fv, ft, fd = (float(x) for x in filled_risk[i])
            parts["shortfall"] = 100 * float(shortfall[i])
            parts["scored_return"] = 100 * float(filled_expected[i])
            parts["scored_risk"] = 100 * (fv + ft) * math.sqrt(horizon) / 3 + 100 * fd / 3
        parts["total"] = (weights_of["return"] * parts.get("scored_return", parts["return"])
                          - weights_of["risk"] * parts.get("scored_risk", parts["risk"])
                          + 0.1 * weights_of["diversification"] * parts["diversification"]
                          - 10 * weights_of["cost"] * parts["cost"] - 0.2 * weights_of["target"] * (parts["target_distance"] + parts["exposure_gap"]))
        out.append(parts)
    return out


def monte_carlo(sim: SimResult, ctx: PlanContext, rng: np.random.Generator) -> dict[str, float]:
    """Bootstrapped horizon returns of the scored portfolio (the end portfolio, its shortfall below the targets'
    share in the targets' mix, as score_many scores it): mean and CVaR (percent)."""
    if len(ctx.returns) < 2:
        return {"mc_return": 0.0, "mc_cvar": 0.0}
    weights = end_weights(sim, ctx)
    shortfall, mix = target_fill(np.array([sum(x for x in weights.values() if x > 0)]), ctx)
    w = _vector(weights, ctx) + float(shortfall[0]) * mix
    paths, horizon = int(ctx.p("scoring.mc_paths")), int(ctx.p("scoring.horizon_days"))
    daily = ctx.matrix @ w
    draws = daily[rng.integers(0, len(daily), size=(paths, horizon))]
    outcomes = np.prod(1 + draws, axis=1) - 1
    return {"mc_return": 100 * float(outcomes.mean()), "mc_cvar": 100 * cvar(outcomes, ctx.p("scoring.cvar_alpha"))}
