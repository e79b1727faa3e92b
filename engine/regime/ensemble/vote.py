"""Combining the models' regime probabilities by the workbook's method and deciding which answer the
engine gives: the ensemble's, the rule-based classifier's, or "uncertain".

Pure functions of arrays, so the voting and the uncertainty rule are tested on constructed inputs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.regime.ensemble.config import EnsembleConfig
from engine.regime.ensemble.effective import uncertain_answer

AGREEMENT_FLOOR = 0.05  # adaptive weighting never silences a model completely
UNCERTAIN = "uncertain"


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str  # agree | ensemble | rules | uncertain
    regime_id: int | None  # the engine's answer (None: uncertain under CONSERVATIVE handling)
    ensemble_regime_id: int
    confidence: float  # the ensemble's probability of its answer (after temperature)
    disagreement: float  # weighted share of models whose own answer differs from the ensemble's
    uncertainty: float  # normalised entropy of the combined distribution, in [0, 1]
    weights: dict[str, float]  # the weights actually used (after adaptive weighting)
    votes: dict[str, int]  # each model's own answer
    reason: str


def effective_weights(cfg: EnsembleConfig, agreement: dict[str, float] | None) -> dict[str, float]:
    """Workbook weights; with adaptive_weighting, times each model's recent agreement with the realised
    rule-based labels (floored), renormalised to the workbook weights' total."""
    base = dict(cfg.weights)
    if cfg.adaptive and agreement:
        w = {m: base[m] * max(AGREEMENT_FLOOR, agreement.get(m, 1.0)) for m in base}
    else:
        w = base
    total, want = sum(w.values()), sum(base.values())
    return {m: (v / total * want if total > 0 else 0.0) for m, v in w.items()}


def temper(p: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature scaling of a probability vector: p^(1/T), renormalised (T > 1 softens)."""
    if temperature <= 0 or temperature == 1.0:
        return p
    q = np.power(np.clip(p, 1e-12, 1.0), 1.0 / temperature)
    return q / q.sum()


def combine(cfg: EnsembleConfig, probs: dict[str, np.ndarray], weights: dict[str, float],
            stacked: np.ndarray | None = None) -> np.ndarray:
    """The combined regime distribution: WEIGHTED_VOTING averages probabilities with the weights,
    MAJORITY_VOTING counts each model's answer once, STACKING is the meta-learner's distribution."""
    n = len(next(iter(probs.values())))
    if cfg.method == "STACKING" and stacked is not None:
        return stacked
    if cfg.method == "MAJORITY_VOTING":
        out = np.zeros(n)
        for p in probs.values():
            out[int(np.argmax(p))] += 1.0
        return out / out.sum()
    total = sum(weights[m] for m in probs)
    if total <= 0:
        return np.full(n, 1.0 / n)
    return np.asarray(sum(weights[m] * probs[m] for m in probs), dtype=float) / total


def decide(cfg: EnsembleConfig, regime_ids: tuple[int, ...], combined: np.ndarray, probs: dict[str, np.ndarray],
           weights: dict[str, float], rule_regime: int) -> Verdict:
    """The uncertainty rule: the ensemble's answer is used when its confidence reaches
    minimum_ensemble_confidence, the models' disagreement is at most disagreement_threshold and the
    normalised entropy at most max_uncertainty_threshold. Otherwise the rule-based answer stands if the
    ensemble agrees with it; if not, the engine is uncertain and RiskControls regime_uncertainty_handling
    decides: CONSERVATIVE answers no regime, MODERATE keeps the rule-based one, AGGRESSIVE takes the ensemble's.
    The regime the engine acts on is effective.resolve's (a firm conflict also goes through conflict_resolution)."""
    top = int(np.argmax(combined))
    ens = regime_ids[top]
    conf = float(combined[top])
    votes = {m: regime_ids[int(np.argmax(p))] for m, p in probs.items()}
    total = sum(weights[m] for m in probs) or 1.0
    dis = float(sum(weights[m] for m, v in votes.items() if v != ens) / total)
    p = combined[combined > 0]
    unc = float(-(p * np.log(p)).sum() / math.log(len(combined))) if len(combined) > 1 else 0.0
    firm = conf >= cfg.min_confidence and dis <= cfg.disagreement and unc <= cfg.max_uncertainty
    if firm:
        status = "agree" if ens == rule_regime else "ensemble"
        return Verdict(status, ens, ens, conf, dis, unc, weights, votes,
                       f"ensemble {conf:.0%} ≥ {cfg.min_confidence:.0%}, disagreement {dis:.0%} ≤ "
                       f"{cfg.disagreement:.0%}")
    why = (f"confidence {conf:.0%} < {cfg.min_confidence:.0%}" if conf < cfg.min_confidence else
           f"disagreement {dis:.0%} > {cfg.disagreement:.0%}" if dis > cfg.disagreement else
           f"uncertainty {unc:.0%} > {cfg.max_uncertainty:.0%}")
    if ens == rule_regime:
        return Verdict("rules", rule_regime, ens, conf, dis, unc, weights, votes,
                       f"ensemble agrees with the rules but is not firm ({why})")
    answer = uncertain_answer(cfg.uncertainty_handling, rule_regime, ens)
    return Verdict(UNCERTAIN, answer, ens, conf, dis, unc, weights, votes,
                   f"ensemble says {ens}, rules say {rule_regime}, {why}; {cfg.uncertainty_handling} handling")
