"""Forged callback values (the input probe's cases) on SQLite and PostgreSQL: each answers 200 with a message
that names the field in the page's words, never a Python or SQL driver error, and changes nothing."""
from __future__ import annotations

import json
from typing import Any

import pytest
from dash import no_update
from sqlalchemy import select

from engine.backtest.inputs import BacktestError
from engine.clock import ManualClock
from engine.params.errors import VersionNotFoundError
from engine.params.paramset import default_params
from engine.params.versions import active_version_id, apply_version, get_version
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import OrderRow, TuningProposal
from engine.trading.sync import sync_from_broker
from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.integration import backtest_data
from tests.planner_page_fixtures import trader_request
from tests.trading_control_fixtures import T0, open_position, seed_market
from tests.tuning_fixtures import pending_proposal
from webapp import backtest_jobs as jobs
from webapp.planner_callbacks import preview_outputs
from webapp.planner_overrides_panel import describe_outputs
from webapp.planner_preset_callbacks import save_user_preset
from webapp.trading_close import close_position

FORGED_IDS = ["abc", "1.5", "9" * 30, "²"]
RAW = ("invalid literal", "too large", "OverflowError", "Traceback", "zip()", "string indices", "InvalidOperation")


@pytest.fixture()
def admin_app(any_db_url):  # type: ignore[no-untyped-def]
    """(app, context, admin client) on a store holding two parameter versions."""
    from app import create_app

    settings = load_settings(database_url=any_db_url, engine_mode="none")
    ctx = build_context(settings, with_source=False, migrate=True, clock=ManualClock())
    apply_version(ctx.store, default_params(), "alice", "ui", clock=ctx.clock)
    application = create_app(settings, context=ctx)
    yield application, ctx, login_client(application, "admin", "ada")
    ctx.store.dispose()


def _text(response: Any) -> str:
    """The callback's answer as the page receives it (non-ASCII kept, so "²" reads as typed)."""
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    text = json.dumps(response.get_json(), ensure_ascii=False)
    assert not any(raw in text for raw in RAW), text
    return text


@pytest.mark.parametrize("forged", FORGED_IDS)
def test_parameters_page_version_picks(admin_app, forged: str) -> None:  # type: ignore[no-untyped-def]
    _app, ctx, admin = admin_app
    deps = wr.dependencies(admin)
    download = _text(wr.call(admin, wr.find(deps, "parameters-download.data"),
                             {"parameters-download-version.n_clicks": 1, "parameters-version-pick.value": forged},
                             trigger="parameters-download-version.n_clicks"))
    assert f"the version to download: '{forged[:20]}" in download and "is not a version number" in download
    diff = _text(wr.call(admin, wr.find(deps, "parameters-version-diff.children"),
                         {"parameters-diff-a.value": forged, "parameters-diff-b.value": "1"},
                         trigger="parameters-diff-a.value"))
    assert "the diff's first version: " in diff and "is not a version number; pick one from the list" in diff
    before = _active(ctx)
    rolled = _text(wr.call(admin, wr.find(deps, "parameters-rollback-modal.is_open"),
                           {"parameters-rollback.n_clicks": 1, "parameters-version-pick.value": forged},
                           trigger="parameters-rollback.n_clicks"))
    assert "the version to roll back to: " in rolled and "is not a version number" in rolled
    assert _active(ctx) == before


def test_a_version_that_does_not_exist_is_said_in_the_diff(admin_app) -> None:  # type: ignore[no-untyped-def]
    _app, _ctx, admin = admin_app
    diff = _text(wr.call(admin, wr.find(wr.dependencies(admin), "parameters-version-diff.children"),
                         {"parameters-diff-a.value": "1", "parameters-diff-b.value": "77"},
                         trigger="parameters-diff-a.value"))
    assert "parameter version 77 does not exist" in diff


def _active(ctx: Any) -> int | None:
    with ctx.store.read() as s:
        return active_version_id(s)


@pytest.mark.parametrize("forged", ["abc", "9" * 30, 1.5])
def test_tuning_proposal_picks(admin_app, forged: object) -> None:  # type: ignore[no-untyped-def]
    _app, ctx, admin = admin_app
    pid = pending_proposal(ctx)
    approved = _text(wr.call(admin, wr.find(wr.dependencies(admin), "parameters-tuning-message"),
                             {"parameters-tuning-proposal.value": forged, "parameters-tuning-approve.n_clicks": 1},
                             trigger="parameters-tuning-approve.n_clicks"))
    assert "the pending proposal: " in approved and "is not a proposal number; pick one from the list" in approved
    with ctx.store.read() as s:  # 1.5 is not proposal 1: nothing was approved
        assert s.get(TuningProposal, pid).status == "pending"  # type: ignore[union-attr]


def test_get_version_refuses_an_id_past_64_bits_as_not_found(admin_app) -> None:  # type: ignore[no-untyped-def]
    _app, ctx, _admin = admin_app
    with ctx.store.read() as s:
        for forged in (2**63, 10**30):
            with pytest.raises(VersionNotFoundError, match=f"parameter version {str(forged)[:24]} does not exist"):
                get_version(s, forged)


@pytest.mark.parametrize("forged", [10**30, "²", 1.5])
def test_backtest_run_picks(admin_app, forged: object) -> None:  # type: ignore[no-untyped-def]
    _app, _ctx, admin = admin_app
    deps = wr.dependencies(admin)
    shown = _text(wr.call(admin, wr.find(deps, "backtest-equity.figure"),
                          {"backtest-run-a.value": forged, "backtest-run-b.value": None},
                          trigger="backtest-run-a.value"))
    assert "Nothing to show: the stored run to open: " in shown and "is not a run number" in shown
    saved = _text(wr.call(admin, wr.find(deps, "backtest-download.data"),
                          {"backtest-download-button.n_clicks": 1, "backtest-run-a.value": forged,
                           "backtest-download-kind.value": "equity.csv"}, trigger="backtest-download-button.n_clicks"))
    assert "Nothing to download: the stored run to open: " in saved and "is not a run number" in saved


@pytest.mark.parametrize("forged", ["99999999999999999999999999", "²", "1.5"])
def test_backtest_parameter_version(admin_app, tmp_path, forged: str) -> None:  # type: ignore[no-untyped-def]

    _app, ctx, _admin = admin_app
    folder = backtest_data.csv_dir(tmp_path / "csv", bars=20)
    settings = load_settings(database_url=ctx.settings.database_url, csv_dir=str(folder))
    form = {"source": "csv", "csv_dir": next(iter(jobs.csv_choices(settings))), "cash": 1000, "version": forged}
    with pytest.raises(BacktestError) as refused:
        jobs.build_spec(form, None, ctx.store, settings)
    assert str(refused.value).startswith("the parameter version: ")
    assert str(refused.value).endswith("is not a version number; pick one from the list")


@pytest.mark.parametrize("source", ["stored", "csv"])
def test_backtest_end_before_start_is_said_first(admin_app, tmp_path, source: str) -> None:  # type: ignore[no-untyped-def]

    _app, ctx, _admin = admin_app
    folder = backtest_data.csv_dir(tmp_path / "csv", bars=20)
    settings = load_settings(database_url=ctx.settings.database_url, csv_dir=str(folder))
    form = {"source": source, "csv_dir": next(iter(jobs.csv_choices(settings))), "cash": 1000,
            "start": "2030-01-01", "end": "2020-01-01"}
    with pytest.raises(BacktestError) as refused:
        jobs.build_spec(form, None, ctx.store, settings)
    assert str(refused.value) == ("the start 2030-01-01 00:00 is after the end 2020-01-01 23:59; "
                                  "enter an end on or after the start")


@pytest.fixture()
def trader_ctx(any_db_url):  # type: ignore[no-untyped-def]
    clock = ManualClock(T0)
    with trader_request(any_db_url, clock, lambda ctx: seed_market(ctx.store, clock)) as (_app, ctx):
        yield ctx


@pytest.mark.parametrize("forged", ["sNaN", "1e999999999", "NaN", "-Infinity", [30]])
def test_close_position_with_a_forged_quantity(trader_ctx, forged: object) -> None:  # type: ignore[no-untyped-def]

    open_position(trader_ctx, "AAA", 30)
    sync_from_broker(trader_ctx)
    with trader_ctx.store.read() as s:
        before = len(list(s.scalars(select(OrderRow.id))))
    assert close_position("AAA", forged, "n-1") == (
        False, "Not sent: the dialog's quantity is malformed; press Close again.")
    with trader_ctx.store.read() as s:
        assert len(list(s.scalars(select(OrderRow.id)))) == before  # nothing sent
    ok, message = close_position("AAA", "30", "n-2")  # the quantity the dialog really showed still closes
    assert ok and message.startswith("Sent: sell 30 AAA at market"), message


@pytest.mark.parametrize(("switch_ids", "switches"), [
    ([{"type": "planner-switch", "name": "calculators.trend.enabled"},
      {"type": "planner-switch", "name": "calculators.mean_reversion.enabled"}], [True]),
    (["calculators.trend.enabled"], [True]),
    ([{"type": "planner-switch"}], [True]),
    ([], {"calculators.trend.enabled": True}),
])
def test_save_preset_with_malformed_switches(trader_ctx, switch_ids: Any, switches: Any) -> None:  # type: ignore[no-untyped-def]

    sliders = [0.5, 0.4, 0.5, 0.5, 0.5, 0.5]
    message, options, users = save_user_preset("mine", "default", sliders, switch_ids, switches)
    assert "Not saved: Planner page: the module switches are malformed; reload the page" in str(message)
    assert not any(raw in str(message) for raw in RAW)
    assert options is no_update and users is no_update


@pytest.mark.parametrize(("switch_ids", "switches"), [
    ([{"name": "averaging_down"}, {"name": "profit_taking"}], [True]),
    (["averaging_down"], [True]),
])
def test_preview_and_overrides_panel_with_malformed_switches(trader_ctx, switch_ids: Any, switches: Any) -> None:  # type: ignore[no-untyped-def]
    """The plan preview and the overrides panel read the same switches: the same clear refusal, the last good
    plan kept (no_update), never zip()'s or a subscript's Python text."""
    sliders = [0.5, 0.4, 0.5, 0.5, 0.5, 0.5]
    view, key, stamp, error = preview_outputs("default", sliders, switch_ids, switches, None)
    assert (view, key, stamp) == (no_update, no_update, no_update)
    assert error == "Planner page: the module switches are malformed; reload the page"
    rows, *_rest = describe_outputs("default", sliders, switch_ids, switches, None, None)
    assert rows.children == "Planner page: the module switches are malformed; reload the page"
