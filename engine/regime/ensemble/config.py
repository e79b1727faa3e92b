"""Typed views of the workbook sheets the ensemble reads (each value read once, where it is used)."""
from __future__ import annotations

from dataclasses import dataclass

from engine.params.paramset import ParamSet
from engine.params.typed import Parameters

MODEL_NAMES = ("hmm", "gmm", "random_forest", "gradient_boost")
METHODS = ("WEIGHTED_VOTING", "MAJORITY_VOTING", "STACKING")
HANDLING = ("CONSERVATIVE", "MODERATE", "AGGRESSIVE")


@dataclass(frozen=True, slots=True)
class EnsembleConfig:
    enabled: bool
    method: str
    weights: dict[str, float]
    min_confidence: float
    disagreement: float
    adaptive: bool
    uncertainty_handling: str  # RiskControls regime_uncertainty_handling
    max_uncertainty: float  # RiskControls max_uncertainty_threshold: normalised entropy above it is uncertain
    refit_every_bars: int  # AdaptiveLearning update_frequency: new bars between two refits
    regime_ids: tuple[int, ...]  # the class axis: RegimeClassification's regimes
    conflict_resolution: str = "MOST_STABLE"  # RiskControls conflict_resolution (effective.py: firm conflicts)
    regime_names: tuple[tuple[int, str], ...] = ()  # RegimeClassification's id -> name

    @staticmethod
    def of(ps: ParamSet) -> EnsembleConfig:
        e = Parameters(ps).ensemble_methods
        r = Parameters(ps).risk_controls
        weights = {"hmm": float(e.hmm_weight), "gmm": float(e.gmm_weight),
                   "random_forest": float(e.random_forest_weight), "gradient_boost": float(e.gradient_boost_weight)}
        return EnsembleConfig(
            enabled=bool(e.ensemble_enabled), method=str(e.ensemble_method), weights=weights,
            min_confidence=float(e.minimum_ensemble_confidence), disagreement=float(e.disagreement_threshold),
            adaptive=bool(e.adaptive_weighting), uncertainty_handling=str(r.regime_uncertainty_handling),
            max_uncertainty=float(r.max_uncertainty_threshold),
            refit_every_bars=max(1, int(Parameters(ps).adaptive_learning.update_frequency)),
            regime_ids=tuple(sorted(int(x.regime_id) for x in Parameters(ps).regime_classification.rows)),
            conflict_resolution=str(r.conflict_resolution),
            regime_names=tuple((int(x.regime_id), str(x.regime_name)) for x in Parameters(ps).regime_classification.rows))


@dataclass(frozen=True, slots=True)
class CalibrationConfig:
    enabled: bool
    method: str  # ISOTONIC_REGRESSION | PLATT_SCALING | TEMPERATURE_SCALING | NONE
    platt_fallback: bool  # platt_scaling_enabled: Platt when isotonic has too few outcomes
    temperature: float
    binning: str  # ADAPTIVE | UNIFORM | QUANTILE (reliability diagram)
    bins: int
    floor: float
    ceiling: float
    real_time: bool  # refit the calibrator every cycle (else only with the models)
    window: int  # calibration_window: newest outcomes the calibrator is fitted on
    horizon_bars: int  # StabilityConfiguration confirmation_window: a call is right if it holds this long

    @staticmethod
    def of(ps: ParamSet) -> CalibrationConfig:
        c = Parameters(ps).confidence_calibration
        return CalibrationConfig(
            enabled=bool(c.calibration_enabled), method=str(c.calibration_method),
            platt_fallback=bool(c.platt_scaling_enabled), temperature=float(c.temperature_scaling),
            binning=str(c.binning_strategy), bins=max(2, int(c.calibration_bins)), floor=float(c.confidence_floor),
            ceiling=float(c.confidence_ceiling), real_time=bool(c.real_time_calibration),
            window=max(10, int(c.calibration_window)),
            horizon_bars=max(1, int(Parameters(ps).stability_configuration.confirmation_window)))
