"""A backtest's shortcuts change its speed, not its results: the private store lives in memory for ordinary
runs and in a file for long ones (a year of minute bars would not fit in RAM), and a run without shortcuts
(file store, every bar read back from it, job runs stored: the live engine's way) gives the same orders,
fills and equity exactly. The file mode keeps its file in the run's folder while the run lasts only."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.backtest import runner
from engine.backtest.inputs import BacktestSpec, load_csv_dir, preset_from_file
from engine.params import default_params
from tests.integration import backtest_data


@pytest.mark.slow  # three 45-bar backtests: 15-60 s depending on the machine's load
def test_memory_file_and_no_shortcut_runs_are_equal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frames = load_csv_dir(backtest_data.csv_dir(tmp_path / "csv", bars=45))
    spec = BacktestSpec(frames=frames, index_symbol="IDX", params=default_params(),
                        preset=preset_from_file(backtest_data.preset_file(tmp_path)), cash=250_000.0)
    assert sum(len(f) for f in frames.values()) <= runner.MEMORY_STORE_BARS
    memory = runner.run_backtest(spec, workdir=tmp_path)
    seen: list[bool] = []

    def progress(_done: int, _total: int) -> None:  # the file exists while the run lasts
        seen.append(any(tmp_path.glob("backtest-*/backtest.db")))

    monkeypatch.setattr(runner, "MEMORY_STORE_BARS", 0)  # every run is "long": the file store
    on_file = runner.run_backtest(spec, progress=progress, workdir=tmp_path)
    assert seen and all(seen)
    assert not list(tmp_path.glob("backtest-*")), "the run's folder is removed afterwards"
    assert len(memory.fills) > 0, "the quick preset trades within 45 bars"
    reference = runner.run_backtest(spec, workdir=tmp_path, shortcuts=False)
    for name in ("equity", "orders", "fills"):
        pd.testing.assert_frame_equal(getattr(on_file, name), getattr(memory, name), check_exact=True)
        pd.testing.assert_frame_equal(getattr(reference, name), getattr(memory, name), check_exact=True)
