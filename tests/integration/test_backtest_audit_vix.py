"""A CSV folder with VIX.csv (audit 2): the backtest sets it aside as the implied-volatility index and hands
its points to the regime engine exactly as the live CSV source does, so both classify the same regimes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.backtest.inputs import BacktestSpec, load_csv_dir, load_csv_folder, preset_from_file
from engine.backtest.runner import run_backtest
from engine.backtest.source import FrameReplaySource
from engine.market.csv_source import CsvReplaySource
from engine.params import default_params
from engine.store.current_regime import effective_names
from tests.engine_run import live_csv_run
from tests.integration import backtest_data


def _folder(tmp_path: Path, bars: int) -> Path:
    """The shared test symbols and a VIX.csv (timestamp, close) at every other index bar, swinging 12 to 60."""
    folder = backtest_data.csv_dir(tmp_path / "csv", bars=bars)
    ts = pd.read_csv(folder / "IDX.csv")["timestamp"].iloc[::2].reset_index(drop=True)
    vix = 12.0 + 48.0 * (np.sin(np.arange(len(ts)) / 3.0) ** 2)
    pd.DataFrame({"timestamp": ts, "close": np.round(vix, 2)}).to_csv(folder / "VIX.csv", index=False)
    return folder


def test_the_backtest_reads_vix_csv_as_the_vol_index_and_polls_it_as_the_csv_source(tmp_path: Path) -> None:
    folder = _folder(tmp_path, 30)
    frames, vol = load_csv_folder(folder)
    assert sorted(frames) == sorted(backtest_data.SYMBOLS) and sorted(load_csv_dir(folder)) == sorted(frames)
    assert vol is not None and vol.symbol == "VIX" and len(vol.points) == 15
    live = CsvReplaySource(folder, index_symbol="IDX")
    replay = FrameReplaySource(frames, "IDX", vol.points, vol.symbol)
    polls = 0
    while not live.exhausted:
        a, b = live.poll(), replay.poll()
        assert a.bars == b.bars and a.vol_index == b.vol_index
        polls += 1
    assert polls == 30 and replay.next_ts() is None


def _live_regimes(url: str, folder: Path, preset, bars: int) -> list[tuple]:  # type: ignore[no-untyped-def]
    """The engine's own jobs over the folder with the CSV source, one bar per tick (test_backtest_live_parity)."""
    with live_csv_run(url, folder, preset, bars) as ctx, ctx.store.read() as s:
        return effective_names(s, "IDX")


@pytest.mark.slow  # the engine jobs and a backtest over 60 bars: about 40 s on a busy machine
def test_live_csv_source_and_backtest_give_the_same_regimes_with_a_vix_file(tmp_path: Path) -> None:
    folder = _folder(tmp_path, 60)
    preset = preset_from_file(backtest_data.preset_file(tmp_path))
    live = _live_regimes(f"sqlite:///{tmp_path / 'live.db'}", folder, preset, 60)
    frames, vol = load_csv_folder(folder)
    result = run_backtest(BacktestSpec(frames=frames, index_symbol="IDX", params=default_params(), preset=preset,
                                       cash=250_000.0, vol_index=vol))
    names = dict(live)
    backtest = [(ts, name) for ts, name in zip(result.equity["timestamp"], result.equity["regime_name"], strict=True)
                if isinstance(name, str)]  # none during the warm-up
    assert len(backtest) >= 20
    assert backtest == [(ts, names.get(ts.to_pydatetime())) for ts, _ in backtest]
    blind = run_backtest(BacktestSpec(frames=frames, index_symbol="IDX", params=default_params(), preset=preset,
                                      cash=250_000.0))  # the old backtest: no vol index fed
    assert blind.equity["regime_name"].astype(str).tolist() != result.equity["regime_name"].astype(str).tolist()
