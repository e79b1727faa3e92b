"""ValidationRules VAL011 reduce_computation and VAL010 trigger_gc in the live regime stage, on SQLite and PostgreSQL:
a cycle slower than the workbook's latency limit makes the next cycle skip the ensemble (the stored snapshot's
regime_reason names the rule, the health check's regime detail says so), and an RSS over the memory limit runs a
garbage collection that the same detail reports."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.health.checks import check_regime
from engine.market.types import Bar, MarketUpdate
from engine.params import default_params
from engine.params.versions import apply_version
from engine.regime.testing import edited
from engine.regime_stage import RegimeStage
from engine.runtime import build_context
from engine.runtime_guards import GUARDS, RuntimeGuards
from engine.settings import load_settings
from engine.store.models import RegimeSnapshot

START = datetime(2026, 1, 5, 3, 45, tzinfo=UTC)


class _Source:
    """What the regime stage asks of a source: its symbols and its index (no exchange calendar)."""

    def symbols(self) -> list[str]:
        return ["IDX"]

    def index_symbol(self) -> str:
        return "IDX"


def _bars(first: int, n: int) -> list[Bar]:
    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, first + n)))[first:]
    return [Bar("IDX", START + timedelta(minutes=first + k), c, c * 1.001, c * 0.999, c, 1_000.0)
            for k, c in enumerate(close)]


@pytest.fixture
def fresh_guards() -> Iterator[None]:
    """The process-wide guard state (engine/runtime_guards.GUARDS) fresh for the test (an earlier test in this
    process may have run a collection or a reduced cycle), and as it was before the test afterwards."""
    saved = dict(vars(GUARDS))
    vars(GUARDS).update(vars(RuntimeGuards()))
    yield
    vars(GUARDS).update(saved)


def test_a_slow_cycle_skips_the_ensemble_and_memory_over_the_limit_collects(any_db_url: str,
                                                                            fresh_guards: None) -> None:
    ctx = build_context(load_settings(database_url=any_db_url), with_source=False, migrate=True,
                        clock=ManualClock(START))
    ctx.source = _Source()  # type: ignore[assignment]  # the stage reads only the two members above
    rows = {("ValidationRules", "main", 10, "condition"): "latency>0.001ms",  # every cycle is slower
            ("ValidationRules", "main", 9, "condition"): "memory>1MB"}  # every process holds more
    apply_version(ctx.store, edited(default_params(), cells=rows), "test:ops", "ui")
    stage = RegimeStage()
    stage.run(ctx, MarketUpdate(bars=_bars(0, 400)))
    with ctx.store.read() as session:
        first = session.scalars(select(RegimeSnapshot).order_by(RegimeSnapshot.id.desc()).limit(1)).one()
    assert "VAL011" not in (first.regime_reason or "")  # the first cycle ran in full (no model yet: no_model)
    assert GUARDS.reduced and GUARDS.gc_runs == 1
    stage.run(ctx, MarketUpdate(bars=_bars(400, 3)))
    with ctx.store.read() as session:
        snaps = session.scalars(select(RegimeSnapshot).order_by(RegimeSnapshot.id.desc()).limit(3)).all()
    assert len(snaps) == 3
    for s in snaps:
        reason = s.regime_reason or ""
        assert reason.startswith("regime cycle took ") and "ms per bar, over 0.001 ms: ensemble skipped" in reason
        assert reason.endswith("(VAL011 LatencyCheck, WARNING): the rule-based regime stands")
        assert s.effective_regime_id == s.regime_id
    assert GUARDS.gc_runs == 1  # the second cycle is within GC_EVERY_S of the first collection
    detail = check_regime(ctx).detail
    assert "reduced computation: regime cycle took" in detail and "(VAL011 LatencyCheck, WARNING)" in detail
    assert "garbage collection #1: RSS" in detail and "over 1 MB" in detail
