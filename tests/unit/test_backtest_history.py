"""A backtest's bars in memory (engine/backtest/history.py) answer exactly what the store's bar reads answer.

The oracle is the store path itself: the same bars are stored poll by poll, and at several cut points the
planner's closes and ATR and the risk cycle's returns history are read both ways and compared exactly
(values, times, their dtype, names). The data has gaps: a symbol missing bars and one starting late.
"""
from __future__ import annotations

import pandas as pd
import pytest

from engine.backtest.history import RunBars
from engine.backtest.sample import simulated_frames
from engine.backtest.source import FrameReplaySource
from engine.planner.portfolio import _history
from engine.portfolio_risk.returns import load
from engine.store.migrate import open_store
from engine.store.models import BarRow, Instrument

CUTS = (1, 3, 16, 40, 75)  # polls done when the two reads are compared


def _frames() -> dict[str, pd.DataFrame]:
    full = simulated_frames(80, freq="B")
    frames = {s: full[s] for s in ("IDX", "ALFA", "BRVO")}
    frames["ALFA"] = frames["ALFA"].drop(index=[5, 6, 30, 31, 32, 60]).reset_index(drop=True)  # missing bars
    frames["BRVO"] = frames["BRVO"].iloc[20:].reset_index(drop=True)  # listed later
    return frames


@pytest.mark.parametrize("lookback", [4, 25, 500])
def test_run_bars_equal_the_store_reads(any_db_url: str, lookback: int) -> None:
    frames = _frames()
    source = FrameReplaySource(frames, "IDX")
    bars = RunBars(frames, source)
    store = open_store(any_db_url, migrate=True)
    try:
        with store.write() as s:
            s.add_all(Instrument(symbol=sym, kind="index" if sym == "IDX" else "stock", has_options=False, source="csv")
                      for sym in frames)
        compared = 0
        for polls in range(1, max(CUTS) + 1):
            update = source.poll()
            with store.write() as s:
                s.add_all(BarRow(symbol=b.symbol, ts=b.ts, open=b.open, high=b.high, low=b.low, close=b.close,
                                 volume=b.volume) for b in update.bars)
            if polls not in CUTS:
                continue
            with store.read() as s:
                closes, atr = _history(s, ["ALFA", "BRVO", "IDX"])
                mem_closes, mem_atr = _history(s, ["ALFA", "BRVO", "IDX"], bars)
                stored = load(s, ["ALFA", "BRVO"], lookback)
                mem = load(s, ["ALFA", "BRVO"], lookback, bars)
            pd.testing.assert_frame_equal(mem_closes, closes, check_exact=True)
            assert mem_atr == atr
            assert mem.index_symbol == stored.index_symbol == "IDX"
            pd.testing.assert_frame_equal(mem.closes, stored.closes, check_exact=True)
            assert len(closes) == min(polls, 80)  # the cut: nothing after the newest stored bar
            compared += 1
        assert compared == len(CUTS)
        assert "BRVO" not in closes.columns or closes["BRVO"].notna().sum() == max(CUTS) - 20
    finally:
        store.dispose()
