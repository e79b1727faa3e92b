"""Backtest page: a trader runs a backtest on a CSV folder; the progress bar counts bars while it runs,
then the equity curve against buy-and-hold, the metrics with their definitions and the fills appear."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.auth_helpers import browser_login
from tests.browser.test_rgm002_whatif_preview import click
from tests.integration import backtest_data

STATE_JS = """
const q = (s) => document.querySelector(s);
const wrap = q('#backtest-progress-wrap'), bar = q('#backtest-progress');
const err = q('#backtest-error');
return [!!q('#backtest-done'), err ? err.innerText : null, wrap ? wrap.style.display : null,
        bar ? bar.innerText : null];
"""


def backtest_app(test_settings, tmp_path: Path, bars: int = 40):  # type: ignore[no-untyped-def]
    """The web app alone (no engine: a backtest needs none) with a CSV folder to choose."""
    from app import create_app

    folder = backtest_data.csv_dir(tmp_path / "csv", bars=bars)
    return create_app(test_settings(warmup_polls=0, csv_dir=str(folder)), start_engine=False)


@pytest.mark.slow  # a backtest through the browser: about a minute on a busy machine
def test_bkt001_run_a_backtest_with_progress_and_see_results(dash_duo, test_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    browser_login(dash_duo, backtest_app(test_settings, tmp_path), role="trader", path="/backtest")
    dash_duo.wait_for_element("#backtest-run", timeout=30)
    assert not dash_duo.find_element("#backtest-csv-dir").is_displayed()  # stored history: no folder to choose
    assert not dash_duo.find_element("#backtest-upload").is_displayed()
    click(dash_duo, "#backtest-source input[value='csv']")
    dash_duo.wait_for_style_to_equal("#backtest-csv-dir-wrap", "display", "block", timeout=10)  # shown for CSV
    assert not dash_duo.find_element("#backtest-upload").is_displayed()
    dash_duo.select_dcc_dropdown("#backtest-csv-dir", index=0)
    cash = dash_duo.find_element("#backtest-cash")
    cash.clear()
    cash.send_keys("250000")
    click(dash_duo, "#backtest-run")

    labels: list[str] = []
    deadline = time.time() + 180
    while True:
        done, error, display, label = dash_duo.driver.execute_script(STATE_JS)
        assert not error, error
        if display == "block" and label and (not labels or labels[-1] != label):
            labels.append(label)
        if done:
            break
        assert time.time() < deadline, f"the backtest never finished; progress seen: {labels}"
        time.sleep(0.1)
    assert any("of 40 bars" in label for label in labels), labels  # the bar counted bars while it ran
    assert "40 bars" in dash_duo.find_element("#backtest-done").text
    assert dash_duo.driver.execute_script("return document.querySelector('#backtest-progress-wrap').style.display") \
        == "none"

    dash_duo.wait_for_element("#backtest-metrics-table", timeout=30)
    table = dash_duo.find_element("#backtest-metrics-table").text
    assert "Sharpe" in table and "Sharpe ratio" in table and "Max drawdown" in table  # rows in words, definitions kept
    names = dash_duo.driver.execute_script(
        "return document.querySelector('#backtest-equity').querySelectorAll('.legendtext').length")
    assert names >= 2  # the run's equity and buy & hold of IDX
    legend = dash_duo.find_element("#backtest-equity").text
    assert "buy & hold IDX" in legend
    assert "250000" in dash_duo.find_element("#backtest-run-info").text.replace(",", "")
