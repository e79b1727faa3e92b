"""An apply that changes nothing the ensemble's fit depends on keeps its model in force (SQLite and PostgreSQL):
a risk-limit edit used to drop it (models were keyed on the whole parameter set), leaving every snapshot
'no_model' - no CONSERVATIVE gate - until the refit job fitted the same model again. A classifier edit still
needs a model of its own, and a rollback finds the one it had."""
from __future__ import annotations

from sqlalchemy import select

from engine.params.versions import active_params, apply_version
from engine.regime.ensemble.job import refit_if_due
from engine.regime.testing import edited
from engine.store.models import RegimeSnapshot
from tests.engine_run import warmed_engine


def _snapshots(ctx, after: int) -> list[RegimeSnapshot]:  # type: ignore[no-untyped-def]
    with ctx.store.read() as s:
        return list(s.scalars(select(RegimeSnapshot).where(RegimeSnapshot.id > after).order_by(RegimeSnapshot.id)))


def _ticks(ctx, cycle, n: int) -> int:  # type: ignore[no-untyped-def]
    """The newest snapshot id before `n` market cycles."""
    with ctx.store.read() as s:
        mark = s.scalar(select(RegimeSnapshot.id).order_by(RegimeSnapshot.id.desc()).limit(1)) or 0
    for _ in range(n):
        ctx.clock.advance(1.0)
        cycle.market(ctx)
    return mark


def test_a_risk_limit_edit_keeps_the_ensemble_model_and_a_rollback_finds_its_model(any_db_url: str) -> None:
    ctx, cycle = warmed_engine(any_db_url, market_ticks=5)
    model_id = refit_if_due(ctx)
    assert model_id is not None
    with ctx.store.read() as s:
        v1 = active_params(s)
    v2 = apply_version(ctx.store, edited(v1, {("TradingRisk", "max_order_qty"): 500}), "trader", "ui", "risk only")
    mark = _ticks(ctx, cycle, 5)
    snaps = _snapshots(ctx, mark)
    assert len(snaps) >= 3 and {s.param_version_id for s in snaps} == {v2.version_id}
    assert all(s.regime_status != "no_model" and s.modules["ensemble"]["model_id"] == model_id for s in snaps), \
        [(s.regime_status, (s.modules.get("ensemble") or {}).get("model_id")) for s in snaps]
    assert refit_if_due(ctx) is None  # the same model: its refit cadence goes on, nothing to fit again
    # a classifier edit: no model for it until the refit job fits one
    apply_version(ctx.store, edited(v1, {("ATRIndicatorsConfig", "atr_period"): 21}), "trader", "ui", "classifier")
    mark = _ticks(ctx, cycle, 3)
    assert {s.regime_status for s in _snapshots(ctx, mark)} == {"no_model"}
    second = refit_if_due(ctx)
    assert second is not None and second != model_id
    # back to v1's values: its model is still stored and in force at the next cycle
    apply_version(ctx.store, v1, "trader", "ui", "back")
    mark = _ticks(ctx, cycle, 3)
    snaps = _snapshots(ctx, mark)
    assert snaps and all(s.modules["ensemble"]["model_id"] == model_id for s in snaps)
