"""The ensemble's model key: only the parameters a fit depends on, every parameter a fit reads accounted for,
and the store keeps a model per recent key (a rollback finds its model)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from engine.params import default_params, track_reads
from engine.regime.ensemble import store as model_store
from engine.regime.ensemble.job import fit_model
from engine.regime.ensemble.model_key import MODEL_FIELDS, MODEL_SHEETS, NOT_KEYED, model_key
from engine.regime.ensemble.models import FittedEnsemble
from engine.regime.testing import edited, ohlcv
from engine.store.migrate import open_store
from engine.store.models import EnsembleModelRow

P = default_params()
T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize("edit", [
    {("TradingRisk", "max_order_qty"): 1},
    {("EnsembleMethods", "minimum_ensemble_confidence"): 0.0},
    {("EnsembleMethods", "disagreement_threshold"): 0.9},
    {("RiskControls", "regime_uncertainty_handling"): "AGGRESSIVE"},
    {("AdaptiveLearning", "update_frequency"): 7},
])
def test_parameters_the_fit_does_not_depend_on_keep_the_key(edit):
    changed = edited(P, edit)
    assert changed.content_hash != P.content_hash  # a real edit ...
    assert model_key(changed) == model_key(P)  # ... that keeps the model


@pytest.mark.parametrize("edit", [
    {("ATRIndicatorsConfig", "atr_period"): 21},
    {("EnsembleMethods", "ensemble_method"): "STACKING"},
    {("RegimeStability", "minimum_stability_score"): 0.9},
    {("StabilityConfiguration", "persistence_window"): 7},
])
def test_parameters_the_fit_depends_on_change_the_key(edit):
    assert model_key(edited(P, edit)) != model_key(P)


def test_the_key_is_deterministic_across_equal_sets():
    again = edited(P, {("TradingRisk", "max_order_qty"): 10_000})  # rebuilt from its canonical form
    assert model_key(again) == model_key(P) and len(model_key(P)) == 64


def test_every_parameter_a_fit_reads_is_keyed_or_read_live():
    """A fit on a few hundred bars (replay of the rule-based classifier, the four models, the dynamics)."""
    rng = np.random.default_rng(5)
    drift = np.repeat(rng.choice([-0.0015, 0.0, 0.0015], size=8), 90)
    close = 100 * np.exp(np.cumsum(drift + rng.normal(0, 0.002, drift.size)))
    bars = ohlcv(close, start=T0 - timedelta(minutes=drift.size))
    with track_reads() as reads:
        fit_model(bars, P, "IDX")
    fields = {(s, sec): f for s, sec, f in reads.fields_read()}
    assert any(s == "ATRIndicatorsConfig" for s, _ in fields)  # the replay ran
    stray = sorted((s, sec, f) for s, sec, f in reads.fields_read()
                   if s not in MODEL_SHEETS and s not in NOT_KEYED and f not in MODEL_FIELDS.get((s, sec), ()))
    assert not stray, f"a fit reads parameters the model key ignores: {stray} (engine/regime/ensemble/model_key.py)"


def _model() -> FittedEnsemble:
    """A stand-in fitted model (the store keeps bytes; nothing here predicts)."""
    return FittedEnsemble(regime_ids=(1,), mean=np.zeros(1), std=np.ones(1), hmm=None, hmm_map=np.zeros(1),
                          gmm=None, gmm_map=np.zeros(1), rf=None, gb=None, meta=None, data_start=T0, data_end=T0,
                          n_rows=200)  # type: ignore[arg-type]


def test_a_rollback_finds_the_model_of_its_key(tmp_path):
    """Five fits under key A, then five under B (an apply that changed the classifier): A's newest stays, so
    rolling back to A's parameters has a model at once; B keeps its newest KEEP_MODELS."""
    store = open_store(f"sqlite:///{tmp_path}/m.db", migrate=True)
    ids = {}
    with store.write() as s:
        for key in ["a"] * 5 + ["b"] * 7:
            ids.setdefault(key, []).append(model_store.save(s, _model(), "IDX", 1, key * 64, "WEIGHTED_VOTING", T0))
    with store.read() as s:
        kept = s.scalars(select(EnsembleModelRow.id).order_by(EnsembleModelRow.id)).all()
        assert model_store.newest_id(s, "IDX", "a" * 64) == ids["a"][-1]
        assert model_store.newest_id(s, "IDX", "b" * 64) == ids["b"][-1]
    assert kept == [ids["a"][-1], *ids["b"][-model_store.KEEP_MODELS:]]
    store.dispose()


def test_only_the_newest_few_keys_keep_a_model(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/m.db", migrate=True)
    with store.write() as s:
        saved = [model_store.save(s, _model(), "IDX", 1, f"{k:064d}", "WEIGHTED_VOTING", T0) for k in range(9)]
    with store.read() as s:
        kept = s.scalars(select(EnsembleModelRow.id).order_by(EnsembleModelRow.id)).all()
    assert kept == saved[-model_store.KEEP_KEYS:]
    store.dispose()
