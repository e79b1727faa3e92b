"""The Regime page's ensemble card and reliability diagram (audit 42), on SQLite and PostgreSQL.

* The card names the model behind the newest verdict (its model_id), not the symbol's newest fit: after a
  parameter change and a rollback the newest fit belongs to other parameters (another model key) and the card
  named a model, a parameter version and a data range that did not make the verdict shown.
* Before any verdict, the card says whether a model for the parameters in force exists, and that the ensemble
  is off when the parameters turn it off (it promised a fit that never comes).
* A NaN stored confidence (PostgreSQL keeps one) left out of the reliability diagram instead of failing it;
  the Brier scores equal sklearn's brier_score_loss on the same out-of-sample calls."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from flask import Flask
from sklearn.metrics import brier_score_loss

from engine.auth import principal
from engine.clock import ManualClock
from engine.params import default_params
from engine.params.catalog import apply_edits
from engine.params.versions import apply_version
from engine.regime.ensemble.model_key import model_key
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.db import Store
from engine.store.models import EnsembleModelRow, Instrument, RegimeSnapshot
from tests.dash_tree import nodes

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def app(any_db_url: str) -> Iterator[tuple[Flask, Store]]:
    from app import create_app
    from webapp.cache import cache

    settings = load_settings(database_url=any_db_url, engine_mode="none")
    ctx = build_context(settings, with_source=False, migrate=True, clock=ManualClock(T0))
    application = create_app(settings, context=ctx)
    with application.server.app_context():
        cache.clear()
    yield application.server, ctx.store
    ctx.store.dispose()


def _model(model_id: int, key: str, version: int | None, n_rows: int) -> EnsembleModelRow:
    return EnsembleModelRow(id=model_id, created_at=T0 - timedelta(hours=5 - model_id), symbol="SPY",
                            param_version_id=version, params_hash=key, data_start=T0 - timedelta(days=model_id),
                            data_end=T0 - timedelta(hours=5 - model_id), n_rows=n_rows, fit_seconds=2.0,
                            method="WEIGHTED_VOTING", metrics={}, blob=b"not loaded by the page")


def _snapshot(verdict: dict[str, Any] | None) -> RegimeSnapshot:
    return RegimeSnapshot(ts=T0, symbol="SPY", regime_id=1, regime_name="Strong_Bullish_Med_Vol", confidence=0.6,
                          raw_score=0.1, volatility_value=0.1, volatility_class="Medium", trend_value=0.0,
                          trend_class="Neutral", time_in_regime_s=60.0, is_transition=False, transition_rule=None,
                          param_version_id=None, modules={"modules": [], "ensemble": verdict})


def _card_text(server: Flask) -> str:
    from pages.regime import refresh_ensemble  # local import: pages register once an app exists
    from webapp.cache import cache  # local import: as the page above

    with server.app_context():
        cache.clear()
    with server.test_request_context("/"), principal.acting_as(principal.Principal("v", "viewer", "x")):
        card = refresh_ensemble(1)[0]
    return " | ".join(n.children for n in nodes(card) if isinstance(getattr(n, "children", None), str))


VERDICT = {"status": "agree", "regime_id": 1, "ensemble_regime_id": 1, "confidence": 0.8,
           "calibrated_confidence": 0.7, "calibration": "isotonic", "disagreement": 0.1, "uncertainty": 0.2,
           "weights": {}, "votes": {}, "reason": "", "model_id": 1}


def test_the_card_names_the_model_behind_the_verdict(app: tuple[Flask, Store]) -> None:
    server, store = app
    with store.write() as s:
        s.add(Instrument(symbol="SPY", kind="index", has_options=False, source="csv"))
        # model 1: the parameters in force; model 2: fitted later under other parameters (version 7)
        s.add_all([_model(1, model_key(default_params()), None, 1000), _model(2, "other-key", 7, 2000)])
        s.flush()
        s.add(_snapshot(VERDICT))
    text = _card_text(server)
    assert "model 1 (WEIGHTED_VOTING) fitted on 1,000 bars" in text and "parameter version defaults" in text
    assert "model 2" not in text and "2,000 bars" not in text


def test_before_a_verdict_the_card_looks_for_the_parameters_in_force(app: tuple[Flask, Store]) -> None:
    server, store = app
    with store.write() as s:
        s.add(Instrument(symbol="SPY", kind="index", has_options=False, source="csv"))
        s.add(_model(2, "other-key", 7, 2000))  # a fit of other parameters only: not one the engine would use
        s.flush()
        s.add(_snapshot(None))
    assert _card_text(server) == ("no ensemble model fitted yet for the parameters in force (the refit job fits one "
                                  "once enough bars are stored)")
    edit = apply_edits(default_params(), values={("EnsembleMethods", "main", "ensemble_enabled"): False})
    assert edit.ok and edit.paramset is not None, edit.issues
    apply_version(store, edit.paramset, "test", "cli")
    assert _card_text(server).startswith("the ensemble is off in the parameters in force")


def test_a_nan_confidence_is_left_out_and_brier_equals_sklearn() -> None:
    from engine.regime.ensemble.config import CalibrationConfig
    from webapp.regime_calibration import reliability_report

    params = default_params()
    horizon = CalibrationConfig.of(params).horizon_bars
    rng = np.random.default_rng(42)
    n = 400
    ids = np.repeat(rng.integers(1, 4, n // 8), 8)[:n]
    conf = np.round(rng.uniform(0.3, 1.0, n), 2)
    conf[[50, 300]] = np.nan
    report = reliability_report(pd.DataFrame({"regime_id": ids, "confidence": conf}), params)
    assert report is not None
    # the oracle: a call at t held when the regime at t + horizon is the same; calls without a confidence dropped;
    # the calls whose outcome bar is at or after the middle known call are the test set
    known = np.array([t for t in range(n - horizon) if np.isfinite(conf[t])])
    hit = (ids[known + horizon] == ids[known]).astype(int)
    split = known[len(known) // 2]
    test = known + horizon >= split
    assert report["n_test"] == int(test.sum()) and report["n_fit"] == int((known + horizon < split).sum())
    assert report["brier_raw"] == pytest.approx(brier_score_loss(hit[test], conf[known][test]), rel=1e-12)
    assert np.isfinite(report["brier_calibrated"])
    assert int(report["raw"]["count"].sum()) == int(test.sum())
