"""Tests whose subject is the planner, sizing or the gateway (not the classifier) pin the regime the
engine acts on: a snapshot of a chosen regime is stored as the newest, the way the regime stage stores
one, so a change in how the classifier reads the simulated market does not change what they test."""
from __future__ import annotations

from sqlalchemy import desc, select

from engine.context import EngineContext
from engine.params.versions import active_params
from engine.regime.formation import Formation
from engine.store.models import RegimeSnapshot


def pin_regime(ctx: EngineContext, name: str) -> RegimeSnapshot:
    """Store `name` (a RegimeClassification row) as the newest classification of the index."""
    with ctx.store.write() as session:
        newest = session.scalars(select(RegimeSnapshot).order_by(desc(RegimeSnapshot.id)).limit(1)).first()
        assert newest is not None, "warm the engine up first: the pinned row copies the newest one's bar"
        row = next(r for r in Formation(active_params(session)).regimes if r.name == name)
        pinned = RegimeSnapshot(
            ts=newest.ts, symbol=newest.symbol, regime_id=row.regime_id, regime_name=row.name, confidence=0.9,
            raw_score=newest.raw_score, volatility_value=newest.volatility_value, volatility_class=row.vol_class,
            trend_value=newest.trend_value, trend_class=row.trend_class, time_in_regime_s=0.0,
            param_version_id=newest.param_version_id, modules=newest.modules, effective_regime_id=row.regime_id,
            effective_regime_name=row.name, regime_status="disabled", regime_reason="pinned by the test")
        session.add(pinned)
        session.flush()
        session.expunge(pinned)
    return pinned
