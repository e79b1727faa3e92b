"""Regime dynamics (RegimeStability): transition probabilities from history, expected durations,
regime entropy, volatility clustering, and the probability of leaving the current regime within N bars
(TransitionManagement transition_lead_time), and (regime_momentum) the current regime's momentum: its share of
the newer half of the last MOMENTUM_BARS labels minus its share of the older half, in [-1, 1] (positive: the
regime has been gaining ground, negative: it is a recent arrival or losing it).

Pure functions of a label sequence (one regime id per bar) and returns; the refit job stores their
results with each fitted model and the live stage reads them for the current regime.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.params.paramset import ParamSet
from engine.params.typed import Parameters

CLUSTERING_LAGS = 10  # Ljung-Box lags of squared returns
CLUSTERING_P = 0.05  # volatility clusters when the no-autocorrelation hypothesis is rejected at this level
MOMENTUM_BARS = 20  # labels behind regime_momentum (the workbook has no momentum window; persistence_window is 3)


@dataclass(frozen=True, slots=True)
class DynamicsConfig:
    enabled: bool  # stability_score_enabled
    min_stability: float  # minimum_stability_score: P(staying N bars) at least this is "stable"
    persistence_check: bool
    model: str  # MARKOV_CHAIN | HIDDEN_MARKOV | EMPIRICAL
    lifetime: bool  # regime_lifetime_analysis: expected durations
    duration_check: bool  # expected_duration_check: flag a run older than its expected duration
    clustering: bool
    entropy: bool
    lead_bars: int  # TransitionManagement transition_lead_time
    persistence_bars: int  # StabilityConfiguration persistence_window
    momentum: bool = False  # regime_momentum

    @staticmethod
    def of(ps: ParamSet) -> DynamicsConfig:
        r = Parameters(ps).regime_stability
        return DynamicsConfig(
            enabled=bool(r.stability_score_enabled), min_stability=float(r.minimum_stability_score),
            persistence_check=bool(r.persistence_check), model=str(r.transition_probability_model),
            lifetime=bool(r.regime_lifetime_analysis), duration_check=bool(r.expected_duration_check),
            clustering=bool(r.volatility_clustering), entropy=bool(r.regime_entropy_check),
            lead_bars=max(1, int(Parameters(ps).transition_management.transition_lead_time)),
            persistence_bars=max(1, int(Parameters(ps).stability_configuration.persistence_window)),
            momentum=bool(r.regime_momentum))


def transition_matrix(labels: np.ndarray, regime_ids: tuple[int, ...]) -> np.ndarray:
    """Bar-to-bar empirical Markov matrix (rows: from, columns: to); an unseen regime's row stays put."""
    col = {r: k for k, r in enumerate(regime_ids)}
    n = len(regime_ids)
    counts = np.zeros((n, n))
    for a, b in zip(labels[:-1], labels[1:], strict=True):
        counts[col[int(a)], col[int(b)]] += 1.0
    rows = counts.sum(axis=1, keepdims=True)
    return np.where(rows > 0, counts / np.where(rows > 0, rows, 1.0), np.eye(n))


def run_lengths(labels: np.ndarray) -> list[tuple[int, int]]:
    """(regime id, bars) of each completed run (the last, ongoing run is left out)."""
    if len(labels) == 0:
        return []
    change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.r_[0, change]
    ends = np.r_[change, len(labels)]
    return [(int(labels[s]), int(e - s)) for s, e in zip(starts[:-1], ends[:-1], strict=True)]


def expected_durations(p: np.ndarray) -> np.ndarray:
    """Mean bars in a regime under the Markov chain: 1 / (1 - P_ii) (inf for an absorbing regime)."""
    stay = np.diag(p)
    with np.errstate(divide="ignore"):
        return np.where(stay < 1.0, 1.0 / (1.0 - stay), np.inf)


def leave_probability(p: np.ndarray, k: int, n_bars: int) -> float:
    """Markov: P(left regime k within n bars) = 1 - P_kk^n."""
    return float(1.0 - p[k, k] ** n_bars)


def leave_probability_empirical(runs: list[tuple[int, int]], regime: int, age: int, n_bars: int) -> float | None:
    """EMPIRICAL: among completed runs of the regime longer than ``age`` bars, the share that ended within
    the next n bars (None without such runs)."""
    longer = [b for r, b in runs if r == regime and b > age]
    return sum(1 for b in longer if b <= age + n_bars) / len(longer) if longer else None


def row_entropy(p: np.ndarray, k: int) -> float:
    """Normalised entropy of the next-bar distribution from regime k, in [0, 1]."""
    row = p[k][p[k] > 0]
    return float(-(row * np.log(row)).sum() / math.log(p.shape[0])) if p.shape[0] > 1 else 0.0


def volatility_clustering(returns: np.ndarray) -> dict[str, float | bool | None]:
    """Ljung-Box test on squared returns: clustered volatility when the p-value is below CLUSTERING_P."""
    r = returns[np.isfinite(returns)]
    if len(r) < 3 * CLUSTERING_LAGS:
        return {"p_value": None, "clustered": False}  # too short to test (None: JSON has no NaN)
    # local import: statsmodels (~35 MB) is loaded only where a refit runs (its child process), not in the engine
    from statsmodels.stats.diagnostic import acorr_ljungbox

    res = acorr_ljungbox((r - r.mean()) ** 2, lags=[CLUSTERING_LAGS])
    pv = float(res["lb_pvalue"].iloc[0])
    return {"p_value": pv, "clustered": bool(pv < CLUSTERING_P)}


def hmm_regime_matrix(transmat: np.ndarray, state_map: np.ndarray, occupancy: np.ndarray) -> np.ndarray:
    """HIDDEN_MARKOV: regime-to-regime probabilities implied by the HMM's state transitions, mapping states to
    regimes with P(regime | state) and regimes back to states by occupancy-weighted Bayes."""
    joint = occupancy[:, None] * state_map  # P(state, regime)
    back = joint / np.maximum(joint.sum(axis=0, keepdims=True), 1e-12)  # P(state | regime)
    m = back.T @ transmat @ state_map
    return m / np.maximum(m.sum(axis=1, keepdims=True), 1e-12)


def regime_momentum(recent: list[int], regime: int, bars: int = MOMENTUM_BARS) -> float:
    """Share of ``regime`` in the newer half of the last ``bars`` labels minus its share in the older half
    (the newer half takes the odd label); 0.0 with fewer than two labels."""
    window = recent[-bars:]
    if len(window) < 2:
        return 0.0
    half = len(window) // 2
    older, newer = window[:half], window[half:]
    return sum(1 for x in newer if x == regime) / len(newer) - sum(1 for x in older if x == regime) / len(older)


def history_dynamics(cfg: DynamicsConfig, labels: np.ndarray, returns: np.ndarray, regime_ids: tuple[int, ...],
                     hmm_matrix: np.ndarray | None = None) -> dict[str, Any]:
    """What the refit job stores: the transition matrix of the configured model, expected durations (bars),
    the completed runs, and the volatility clustering check."""
    p = transition_matrix(labels, regime_ids)
    if cfg.model == "HIDDEN_MARKOV" and hmm_matrix is not None:
        p = hmm_matrix
    out: dict[str, Any] = {"model": cfg.model, "regime_ids": list(regime_ids), "matrix": p.round(6).tolist(),
                           "runs": run_lengths(labels)[-2000:]}
    if cfg.lifetime:
        out["expected_bars"] = [None if not math.isfinite(x) else float(x) for x in expected_durations(p)]
    if cfg.clustering:
        out["volatility_clustering"] = volatility_clustering(returns)
    return out


def current(cfg: DynamicsConfig, dyn: dict[str, Any], recent: list[int]) -> dict[str, Any]:
    """Figures for the current regime (the last of ``recent`` labels, oldest first): the probability of
    leaving it within lead_bars, the stability score (1 - that) against minimum_stability_score, the
    next-bar entropy, its expected duration against the age, the persistence ratio and the regime's momentum."""
    if not cfg.enabled or not recent or not dyn:
        return {}
    ids = dyn["regime_ids"]
    reg = recent[-1]
    if reg not in ids:
        return {}
    k = ids.index(reg)
    p = np.asarray(dyn["matrix"])
    age = 1
    while age < len(recent) and recent[-1 - age] == reg:
        age += 1
    if cfg.model == "EMPIRICAL":
        leave = leave_probability_empirical([tuple(r) for r in dyn.get("runs", [])], reg, age, cfg.lead_bars)
        leave = leave_probability(p, k, cfg.lead_bars) if leave is None else leave
    else:
        leave = leave_probability(p, k, cfg.lead_bars)
    out: dict[str, Any] = {"leave_within_bars": cfg.lead_bars, "leave_probability": leave,
                           "stability_score": 1.0 - leave, "stable": 1.0 - leave >= cfg.min_stability, "age_bars": age}
    if cfg.entropy:
        out["entropy"] = row_entropy(p, k)
    if cfg.duration_check and dyn.get("expected_bars"):
        exp = dyn["expected_bars"][k]
        out["expected_bars"] = exp
        out["over_expected"] = exp is not None and age > exp
    if cfg.persistence_check:
        window = recent[-cfg.persistence_bars:]
        out["persistence"] = sum(1 for x in window if x == reg) / len(window)
    if cfg.momentum:
        out["momentum"] = regime_momentum(recent, reg)
        out["momentum_bars"] = min(len(recent), MOMENTUM_BARS)
    return out
