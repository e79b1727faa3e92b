"""The key a fitted ensemble is stored and found under: a hash of only the parameters the fit depends on.

A model is the four classifiers fitted on the rule-based classifier's replayed labels and features, plus the
history's regime dynamics. So it depends on the sheets the classifier reads (MODEL_SHEETS: the replay's labels
and the live stage's features come from them), RegimeStability (the dynamics stored with the model) and the
ensemble method (STACKING fits a meta-model). Everything else is read live from the active version, or not by
the ensemble at all, so changing it keeps the model in force: the risk limits, the planner and execution
sheets, the ensemble's weights and thresholds, the uncertainty handling, calibration, the refit cadence
(NOT_KEYED). Keying on the whole parameter set's content hash dropped the model on any apply (a max_order_qty
edit made every snapshot 'no_model', lifting the CONSERVATIVE no-new-exposure gate, until the next refit).

tests/unit/test_params_audit_versions_model_key.py records what a fit reads and fails when it reads a sheet
neither keyed nor listed in NOT_KEYED. Models stored under the old key (the full content hash) match no key:
the refit job fits a new one once, as after any change of these parameters.
"""
from __future__ import annotations

import hashlib
import json
import threading

from engine.params.paramset import ParamSet

KEY_FORMAT = 1  # bump when the choice below changes: every stored model is then refitted once
MODEL_SHEETS = (  # whole sheets: the rule-based classifier (replay and live stage) reads nearly all of each
    "ATRIndicatorsConfig", "DynamicWeightageConfig", "GreekSentimentConfig", "IVSurfaceConfig",
    "IndicatorConfiguration", "IntradaySettings", "MasterConfiguration", "MultiTimeframeConfig", "NoiseFiltering",
    "OutputFormat", "RegimeClassification", "RegimeFormationConfig", "RegimeParameters", "RegimeStability",
    "StabilityConfiguration", "StraddleAnalysisConfig", "TransitionManagement", "TransitionRules",
    "TrendingOIPAConfig", "ValidationRules",
)
MODEL_FIELDS = {("EnsembleMethods", "main"): ("ensemble_method",)}  # single fields the fit reads from other sheets
NOT_KEYED = {  # sheets a fit reads but whose values do not shape the fitted model (read live instead)
    "EnsembleMethods": "weights, confidence and disagreement thresholds, enabled: applied to each live verdict",
    "RiskControls": "uncertainty handling and conflict resolution: applied to each live verdict",
    "AdaptiveLearning": "update_frequency: when the next refit is due, not what it fits",
}
_CACHE: dict[str, str] = {}
_LOCK = threading.Lock()


def model_key(ps: ParamSet) -> str:
    """sha256 of the canonical JSON (ParamSet.content_hash's canonicalisation) of the keyed sheets and fields."""
    with _LOCK:
        known = _CACHE.get(ps.content_hash)
    if known is not None:
        return known
    canonical = ps.to_canonical()
    sheets = canonical["sheets"]
    picked = {name: sheets.get(name) for name in MODEL_SHEETS}
    for (sheet, section), names in MODEL_FIELDS.items():
        values = sheets.get(sheet, {}).get(section, {})
        picked[f"{sheet}.{section}"] = {n: values.get(n) for n in names}
    blob = json.dumps({"key_format": KEY_FORMAT, "schema_version": canonical["schema_version"], "sheets": picked},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    key = hashlib.sha256(blob.encode()).hexdigest()
    with _LOCK:
        if len(_CACHE) > 32:
            _CACHE.clear()
        _CACHE[ps.content_hash] = key
    return key
