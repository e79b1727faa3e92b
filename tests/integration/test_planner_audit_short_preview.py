"""A short position beyond the band outside the target universe: the Planner page's preview and the engine's
planner job plan it (they raised ZeroDivisionError every time), and any unexpected planner failure shows a clear
message on the page (the traceback goes to the server log) instead of failing the callback."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from dash import no_update
from sqlalchemy import select

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.planner import job as planner_job
from engine.planner.context import PlanContext
from engine.planner.preset_store import list_presets, save_user_preset
from engine.planner.registry import CALCULATORS
from engine.planner.types import Action
from engine.store.models import PlannerPlan, PositionRow
from tests.planner_page_fixtures import NOW, seed_portfolio, trader_request
from webapp.planner_callbacks import preview_outputs
from webapp.planner_preview import SLIDER_NAMES, all_presets

NARROW = {"targets.universe_size": 1}  # one target name: the short's symbol is left without a target


@pytest.fixture()
def page(any_db_url: str) -> Iterator[tuple[Any, EngineContext]]:
    with trader_request(any_db_url, ManualClock(NOW), lambda ctx: seed_portfolio(ctx, held=5, seed=3)) as (app, c):
        with c.store.write() as s:  # the last held symbol becomes a 1,000-share short (e.g. an over-sell synced)
            rows = list(s.scalars(select(PositionRow).order_by(PositionRow.symbol)))
            rows[-1].qty = -1000
        yield app, c


def _preview(name: str, overrides: dict[str, object]) -> tuple[Any, Any, Any, Any]:
    preset = all_presets()[name]
    return preview_outputs(name, [preset.sliders[n] for n in SLIDER_NAMES], [], None, None, overrides)


def test_the_preview_plans_a_portfolio_with_a_short(page: tuple[Any, EngineContext]) -> None:
    view, key, portfolio, error = _preview("default", NARROW)
    assert error == "" and isinstance(key, str) and isinstance(portfolio, str) and view is not no_update


def test_the_engine_job_plans_a_portfolio_with_a_short(page: tuple[Any, EngineContext],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _, ctx = page
    save_user_preset(ctx.store, NOW, "tess", "narrow", "default", {}, NARROW)
    with ctx.store.read() as s:
        narrow = list_presets(s)["narrow"]
    monkeypatch.setattr(planner_job, "preset_for_regime", lambda s, r, h=None: (narrow, "test"))
    plan = planner_job.run_planner_job(ctx)
    assert plan is not None and plan.preset == "narrow"
    with ctx.store.read() as s:
        assert s.scalars(select(PlannerPlan.preset)).all() == ["narrow"]  # stored: the cycle did not fail


def test_an_unexpected_planner_failure_is_a_message_not_an_error(page: tuple[Any, EngineContext],
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """A calculator plug-in with a bug (registered the documented way, so every preset runs it)."""
    def broken(ctx: PlanContext) -> list[Action]:
        raise ZeroDivisionError("a calculator bug")

    CALCULATORS.names()  # load the package first: the plug-in is added beside the real calculators
    monkeypatch.setitem(CALCULATORS._modules, "audit_broken", broken)
    with caplog.at_level(logging.ERROR, logger="webapp.planner_callbacks"):
        view, key, portfolio, error = _preview("default", {})
    assert (view, key, portfolio) == (no_update, no_update, no_update)  # the last plan shown stays
    assert "planner failed" in error and "'default'" in error and "ZeroDivisionError" in error
    assert "Traceback" not in error
    assert any(r.exc_info and "a calculator bug" in str(r.exc_info[1]) for r in caplog.records)  # logged in full
