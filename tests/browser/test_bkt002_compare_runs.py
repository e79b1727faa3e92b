"""Backtest page: a viewer opens two stored runs side by side (metrics columns, both equity curves) and
downloads the first run's equity.csv, identical to what the run stored."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.backtest import runs
from engine.backtest.inputs import BacktestSpec, load_csv_dir, preset_by_name, preset_from_file
from engine.backtest.outputs import compute
from engine.backtest.runner import run_backtest
from engine.params import default_params
from tests.auth_helpers import browser_login
from tests.browser.test_bkt001_run_backtest import backtest_app
from tests.browser.test_rgm002_whatif_preview import click
from tests.integration import backtest_data
from webapp.context import EXTENSION_KEY


def _stored_run(store, frames, preset, name: str) -> int:  # type: ignore[no-untyped-def]
    spec = BacktestSpec(frames=frames, index_symbol="IDX", params=default_params(), preset=preset, cash=100_000.0,
                        data_label="csv test", params_label="schema defaults")
    run_id = runs.create_run(store, spec, author="cli:test", data_source="csv", name=name)
    result = run_backtest(spec)
    runs.finish_run(store, run_id, result, compute(result))
    return run_id


@pytest.mark.slow  # a backtest through the browser: about a minute on a busy machine
def test_bkt002_compare_two_runs_and_download(dash_duo, test_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = backtest_app(test_settings, tmp_path, bars=40)
    store = app.server.extensions[EXTENSION_KEY].store
    frames = load_csv_dir(tmp_path / "csv")
    quick = _stored_run(store, frames, preset_from_file(backtest_data.preset_file(tmp_path)), "quick")
    calm = _stored_run(store, frames, preset_by_name("conservative"), "calm")

    browser_login(dash_duo, app, role="viewer", path="/backtest")
    dash_duo.wait_for_element("#backtest-run-a", timeout=30)
    dash_duo.select_dcc_dropdown("#backtest-run-a", value=f"#{quick} quick (done)")
    dash_duo.wait_for_element("#backtest-metrics-table", timeout=30)
    dash_duo.select_dcc_dropdown("#backtest-run-b", value=f"#{calm} calm (done)")
    dash_duo.wait_for_contains_text("#backtest-metrics-table", f"#{calm} calm", timeout=30)
    header = dash_duo.find_element("#backtest-metrics-table thead").text
    assert f"#{quick} quick" in header and f"#{calm} calm" in header
    legend = dash_duo.find_element("#backtest-equity").text
    assert f"#{quick} quick" in legend and f"#{calm} calm" in legend and "buy & hold IDX" in legend
    assert dash_duo.find_element("#backtest-run-b").is_displayed()

    click(dash_duo, "#backtest-download-button")
    target = Path(dash_duo.download_path) / f"backtest-{quick}-equity.csv"
    deadline = time.time() + 30
    while not target.exists():
        assert time.time() < deadline, f"no download in {dash_duo.download_path}"
        time.sleep(0.2)
    time.sleep(0.5)
    assert target.read_text(encoding="utf-8") == runs.file_text(store, quick, "equity.csv")
