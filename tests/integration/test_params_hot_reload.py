"""Hot reload: a running engine uses a newly applied parameter version from its next cycle, without
a restart, and every output it writes afterwards (regime snapshots, planner orders) names that version.

Real parts only: an EngineService with its BackgroundScheduler on a temporary SQLite and a PostgreSQL store, the
simulated market and the paper broker; the new version is applied the way the web/CLI do it
(versions.apply_version), from outside the engine.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from engine.params import ParamSet
from engine.params.versions import active_params, active_version_id, apply_version
from engine.runtime import build_context
from engine.scheduler import EngineService
from engine.settings import load_settings
from engine.store.models import OrderRow, RegimeSnapshot


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.time() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.time() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.2)


def edited(ps: ParamSet, sheet: str, name: str, value: Any) -> ParamSet:
    """A copy of `ps` with one key/value parameter changed (validated like any UI edit)."""
    canonical = ps.to_canonical()
    section = ps.schema.kv_index[sheet][name][0]
    canonical["sheets"][sheet][section][name] = value
    return ParamSet.from_canonical(canonical)


def test_running_engine_picks_up_a_new_version_at_its_next_cycle(any_db_url: str) -> None:
    settings = load_settings(database_url=any_db_url, tick_seconds=0.25, warmup_polls=400, autotrade=True)
    ctx = build_context(settings, with_source=True, migrate=True)
    service = EngineService(ctx, blocking=False)
    service.start()
    try:
        store = ctx.store

        def active() -> int | None:
            with store.read() as s:
                return active_version_id(s)

        v1 = wait_until(active, 20, "the default parameter version applied at engine start-up")

        def snapshots_of(version: int, after_id: int = 0) -> int:
            with store.read() as s:
                return s.scalar(select(func.count()).select_from(RegimeSnapshot).where(
                    RegimeSnapshot.param_version_id == version, RegimeSnapshot.id > after_id)) or 0

        wait_until(lambda: snapshots_of(v1) >= 3, 60, f"regime snapshots produced by version {v1}")
        stage = service.cycle.regime
        assert stage.version_id == v1
        reloads_before = stage.reloads
        old_atr = stage.classifier.params.sheet("ATRIndicatorsConfig").atr_period

        with store.read() as s:
            current = active_params(s)
            last_snapshot = s.scalar(select(func.max(RegimeSnapshot.id))) or 0
            last_order = s.scalar(select(func.max(OrderRow.id))) or 0
        new_value = 20 if old_atr != 20 else 15
        v2 = apply_version(store, edited(current, "ATRIndicatorsConfig", "atr_period", new_value),
                           "test:hot-reload", "ui", "hot reload test").version_id
        assert v2 is not None and v2 != v1

        wait_until(lambda: snapshots_of(v2, last_snapshot) >= 2, 30,
                   f"regime snapshots produced by version {v2} without a restart")
        with store.read() as s:
            later = s.scalars(select(RegimeSnapshot.param_version_id).where(RegimeSnapshot.id > last_snapshot)
                              .order_by(RegimeSnapshot.id)).all()
        first_v2 = later.index(v2)
        assert set(later[first_v2:]) == {v2}, f"a snapshot after the switch names another version: {later}"
        assert set(later[:first_v2]) <= {v1}, later  # at most the cycle already running when we applied
        # the same running engine (no restart) rebuilt its classifier on the new values
        assert service.cycle.regime is stage and stage.version_id == v2 and stage.reloads == reloads_before + 1
        assert stage.classifier.params.version_id == v2
        assert stage.classifier.params.sheet("ATRIndicatorsConfig").atr_period == new_value

        # orders the planner submits from the new version on carry it (a planner cycle already running
        # when the version was applied may still finish with the old one, never after a new-version order)
        def planner_orders() -> list[int | None]:
            with store.read() as s:
                return s.scalars(select(OrderRow.param_version_id).where(
                    OrderRow.id > last_order, OrderRow.origin == "planner").order_by(OrderRow.id)).all()

        orders = wait_until(lambda: v2 in (got := planner_orders()) and got, 30,
                            f"a planner order produced by version {v2}")
        assert set(orders[orders.index(v2):]) == {v2}, orders
        assert set(orders) <= {v1, v2}, orders
    finally:
        service.shutdown()
