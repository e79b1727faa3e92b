"""A drift's refit request (retraining_trigger DRIFT_BASED) makes the ensemble's refit job fit again at its
next look, without waiting for update_frequency new bars; once fitted, the request is spent."""
from __future__ import annotations

import pytest

from engine.regime.ensemble.job import refit_if_due
from engine.store.keyvalue import REFIT_REQUEST_KEY, put_value
from tests.engine_run import warmed_engine


@pytest.mark.slow
def test_a_refit_request_newer_than_the_model_refits_once(any_db_url: str) -> None:
    ctx, cycle = warmed_engine(any_db_url, market_ticks=0)
    first = refit_if_due(ctx)
    assert first is not None
    ctx.clock.advance(1.0)
    cycle.market(ctx)  # one new bar: far fewer than update_frequency (100)
    assert refit_if_due(ctx) is None
    now = ctx.clock.advance(1.0)
    with ctx.store.write() as s:
        put_value(s, REFIT_REQUEST_KEY, {"ts": now.isoformat(), "reason": "confidence drifted"}, now)
    cycle.market(ctx)
    ctx.clock.advance(1.0)
    second = refit_if_due(ctx)
    assert second is not None and second != first
    ctx.clock.advance(1.0)
    cycle.market(ctx)
    assert refit_if_due(ctx) is None  # the request is older than the new model
