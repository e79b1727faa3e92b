"""The regime the engine ACTS on: the rule-based answer and the ensemble's verdict combined into one
effective regime, by one pure function the live regime stage and a batch replay both call.

How RiskControls `regime_uncertainty_handling` and `conflict_resolution` combine (the verdict's status
comes from vote.decide: firm = confidence >= minimum_ensemble_confidence, disagreement <=
disagreement_threshold, entropy <= max_uncertainty_threshold):

=========  ==========================================  =============================================
status     situation                                   effective regime
=========  ==========================================  =============================================
disabled   EnsembleMethods ensemble_enabled is off      the rule-based regime
no_model   enabled, no model fitted yet (first refit)   the rule-based regime
agree      ensemble firm and equal to the rules         that regime
rules      ensemble equal to the rules but not firm     the rule-based regime
ensemble   ensemble firm and DIFFERENT from the rules   conflict_resolution picks (the handling has no
                                                       say: the engine is not uncertain, so it leaves
                                                       the choice open)
uncertain  ensemble not firm and different             regime_uncertainty_handling alone decides:
                                                       CONSERVATIVE no regime (no new exposure),
                                                       MODERATE the rules', AGGRESSIVE the ensemble's
=========  ==========================================  =============================================

conflict_resolution (status `ensemble` only): MOST_STABLE takes the answer that has held longer (consecutive
bars: the rules' label run against the ensemble's answer run), MOST_RECENT the one that changed more
recently (the shorter run), HIGHEST_CONFIDENCE the higher confidence (the rule classifier's against the
ensemble's calibrated confidence). A tie keeps the rule-based answer, the classifier of record.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.regime.ensemble.config import EnsembleConfig
from engine.store.current_regime import EffectiveRegime

HANDLING = ("CONSERVATIVE", "MODERATE", "AGGRESSIVE")
CONFLICT_RESOLUTION = ("MOST_STABLE", "HIGHEST_CONFIDENCE", "MOST_RECENT")
STATUSES = ("disabled", "no_model", "agree", "rules", "ensemble", "uncertain")


def uncertain_answer(handling: str, rule_regime: int, ensemble_regime: int) -> int | None:
    """regime_uncertainty_handling on an uncertain verdict (vote.decide reports the same answer)."""
    if handling not in HANDLING:
        raise ValueError(f"RiskControls regime_uncertainty_handling: unknown value {handling!r} "
                         f"(one of {', '.join(HANDLING)})")
    return {"CONSERVATIVE": None, "MODERATE": rule_regime, "AGGRESSIVE": ensemble_regime}[handling]


def pick_conflict(resolution: str, rule: tuple[int, float, int], ensemble: tuple[int, float, int]) -> tuple[int, str]:
    """conflict_resolution between two different answers, each (regime id, confidence, run length in bars).
    Returns the chosen id and why; a tie keeps the rule-based answer."""
    (r_id, r_conf, r_run), (e_id, e_conf, e_run) = rule, ensemble
    if resolution == "MOST_STABLE":
        take_ens, why = e_run > r_run, f"held {e_run} bars (ensemble) against {r_run} (rules)"
    elif resolution == "MOST_RECENT":
        take_ens, why = e_run < r_run, f"changed {e_run} bars ago (ensemble) against {r_run} (rules)"
    elif resolution == "HIGHEST_CONFIDENCE":
        take_ens, why = e_conf > r_conf, f"confidence {e_conf:.0%} (ensemble) against {r_conf:.0%} (rules)"
    else:
        raise ValueError(f"RiskControls conflict_resolution: unknown value {resolution!r} "
                         f"(one of {', '.join(CONFLICT_RESOLUTION)})")
    return (e_id, f"{resolution}: {why} -> the ensemble's") if take_ens else (r_id, f"{resolution}: {why} -> the rules'")


def resolve(*, enabled: bool, handling: str, conflict_resolution: str, rule_regime: int, rule_name: str,
            rule_confidence: float, verdict: Mapping[str, Any] | None, names: Mapping[int, str]) -> EffectiveRegime:
    """The effective regime of one classified bar (see the module docstring for the table).

    ``verdict`` is the ensemble stepper's dict (status, ensemble_regime_id, confidence, calibrated_confidence,
    rule_run, ensemble_run, reason) or None when no model is in force; ``names`` maps regime ids to names."""
    def named(rid: int | None) -> str | None:
        if rid is None:
            return None
        return rule_name if rid == rule_regime else str(names.get(rid, f"regime {rid}"))

    def out(rid: int | None, status: str, reason: str) -> EffectiveRegime:
        return EffectiveRegime(rid, named(rid), status, reason, rule_regime, rule_name)

    if not enabled:
        return out(rule_regime, "disabled", "EnsembleMethods ensemble_enabled is off: the rule-based regime")
    if not verdict:
        return out(rule_regime, "no_model", "no ensemble model in force yet: the rule-based regime stands")
    status = str(verdict["status"])
    ens = int(verdict["ensemble_regime_id"])
    why = str(verdict.get("reason") or "")
    if status in ("agree", "rules"):
        return out(rule_regime, status, why)
    if status == "uncertain":
        rid = uncertain_answer(handling, rule_regime, ens)
        taken = {None: "no regime: no new exposure", rule_regime: "the rule-based regime"}.get(rid, "the ensemble's")
        return out(rid, status, f"{why} -> {taken}")
    if status == "ensemble":
        conf = verdict.get("calibrated_confidence")
        rid, picked = pick_conflict(conflict_resolution,
                                    (rule_regime, float(rule_confidence), int(verdict.get("rule_run") or 0)),
                                    (ens, float(verdict["confidence"] if conf is None else conf),
                                     int(verdict.get("ensemble_run") or 0)))
        return out(rid, status, f"{why}; rules say {rule_name}; {picked}")
    raise ValueError(f"ensemble verdict: unknown status {status!r} (one of {', '.join(STATUSES)})")


def of_config(cfg: EnsembleConfig, rule_regime: int, rule_name: str, rule_confidence: float,
              verdict: Mapping[str, Any] | None) -> EffectiveRegime:
    """resolve() with the workbook's switches (EnsembleConfig.of the active parameters)."""
    return resolve(enabled=cfg.enabled, handling=cfg.uncertainty_handling, conflict_resolution=cfg.conflict_resolution,
                   rule_regime=rule_regime, rule_name=rule_name, rule_confidence=rule_confidence, verdict=verdict,
                   names=dict(cfg.regime_names))
