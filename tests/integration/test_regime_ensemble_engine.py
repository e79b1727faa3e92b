"""The ensemble in the running engine: the refit job (its own job) stores a model with the parameter
version and data range it came from; the live stage then adds the ensemble's verdict to every new
snapshot, always from a model whose data ended before the bar it classifies."""
from __future__ import annotations

from sqlalchemy import select

from engine.params.versions import active_params
from engine.regime.ensemble import store as model_store
from engine.regime.ensemble.job import refit_if_due
from engine.store.models import EnsembleModelRow, RegimeSnapshot
from tests.engine_run import warmed_engine


def test_refit_job_stores_a_model_and_live_snapshots_carry_verdicts(any_db_url: str) -> None:
    ctx, cycle = warmed_engine(any_db_url, market_ticks=5)
    with ctx.store.read() as session:
        before = session.scalar(select(RegimeSnapshot.id).order_by(RegimeSnapshot.id.desc()).limit(1))
        params = active_params(session)
    model_id = refit_if_due(ctx)
    assert model_id is not None
    assert refit_if_due(ctx) is None  # not due again until update_frequency new bars arrived
    with ctx.store.read() as session:
        row = session.get(EnsembleModelRow, model_id)
        assert row is not None and row.params_hash == params.content_hash and row.param_version_id == params.version_id
        assert row.n_rows >= 200 and row.data_start < row.data_end and row.fit_seconds > 0
        model = model_store.load(session, model_id)
        assert set(row.metrics["train_agreement"]) == {"hmm", "gmm", "random_forest", "gradient_boost"}
    assert model.data_end == row.data_end
    for _ in range(30):
        ctx.clock.advance(1.0)
        cycle.market(ctx)
    with ctx.store.read() as session:
        snaps = list(session.scalars(select(RegimeSnapshot).where(RegimeSnapshot.id > before)
                                     .order_by(RegimeSnapshot.id)))
    assert len(snaps) >= 20
    with ctx.store.read() as session:
        earlier = list(session.scalars(select(RegimeSnapshot).where(RegimeSnapshot.id <= before)))
    assert earlier and all(s.modules.get("ensemble") is None for s in earlier)  # classified before any model
    with_model = [s for s in snaps if s.modules.get("ensemble")]
    assert len(with_model) >= 20
    for s in with_model:
        v = s.modules["ensemble"]
        assert v["model_id"] == model_id and s.ts > row.data_end  # fitted on bars before the one classified
        assert v["status"] in ("agree", "ensemble", "rules", "uncertain")
        assert 0.0 <= v["confidence"] <= 1.0 and 0.0 <= v["disagreement"] <= 1.0
        assert v["regime_id"] is None or isinstance(v["regime_id"], int)
    seen = {int(c) for c in model.rf.classes_}  # regimes the training window contained
    known = [s for s in with_model if s.regime_id in seen]
    for s in with_model:  # a regime the models never saw cannot be agreed with: never reported as agreement
        if s.regime_id not in seen:
            assert s.modules["ensemble"]["status"] in ("ensemble", "uncertain")
    if len(known) >= 10:  # trained on the rule-based labels, it mostly agrees with them on regimes it knows
        agree = sum(s.modules["ensemble"]["ensemble_regime_id"] == s.regime_id for s in known) / len(known)
        assert agree > 0.5
