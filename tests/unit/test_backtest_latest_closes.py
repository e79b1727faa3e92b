"""A backtest's bars in memory answer trading.marks.latest_closes exactly as the store's statement does.

The oracle is the store path itself: the same bars are stored poll by poll (keeping only the closes the market
job stores: positive and finite), and after every poll the newest closes of all symbols, one listed symbol
without bars and an unknown one are read both ways and compared exactly (values, Decimal digits, bar times and
their time zone, order). The data has gaps, a symbol listed late, a close of 0 and a NaN close.
"""
from __future__ import annotations

import math
from datetime import UTC
from pathlib import Path

import pandas as pd

from engine import jobs
from engine.backtest.history import RunBars
from engine.backtest.private import backtest_settings, private_context
from engine.backtest.sample import simulated_frames
from engine.backtest.source import FrameReplaySource
from engine.store.migrate import open_store
from engine.store.models import BarRow
from engine.trading.marks import RUN_BARS_KEY, latest_closes

ASKED = ["BRVO", "IDX", "ALFA", "NONE"]  # unsorted on purpose; NONE has no bars


def _frames() -> dict[str, pd.DataFrame]:
    full = simulated_frames(40, freq="B")
    frames = {s: full[s].copy() for s in ("IDX", "ALFA", "BRVO")}
    frames["ALFA"] = frames["ALFA"].drop(index=[5, 6, 30]).reset_index(drop=True)  # missing bars
    frames["BRVO"] = frames["BRVO"].iloc[12:].reset_index(drop=True)  # listed later
    frames["ALFA"].loc[10, "close"] = 0.0  # bad prints the market job does not store
    frames["ALFA"].loc[11, "close"] = float("nan")
    frames["IDX"].loc[39, "close"] = float("nan")  # the last bar's close: the one before stays the newest
    return frames


def test_latest_closes_from_memory_equal_the_store(any_db_url: str) -> None:
    frames = _frames()
    source = FrameReplaySource(frames, "IDX")
    bars = RunBars(frames, source)
    store = open_store(any_db_url, migrate=True)
    try:
        with store.read() as s:
            assert latest_closes(s, ASKED) == {}
            s.info[RUN_BARS_KEY] = bars
            assert latest_closes(s, ASKED) == {}  # nothing handed out yet
        skipped = 0
        for _ in range(40):
            update = source.poll()
            kept = [b for b in update.bars if math.isfinite(float(b.close)) and float(b.close) > 0]
            skipped += len(update.bars) - len(kept)
            with store.write() as s:
                s.add_all(BarRow(symbol=b.symbol, ts=b.ts, open=b.open, high=b.high, low=b.low, close=b.close,
                                 volume=b.volume) for b in kept)
            with store.read() as s:
                stored = latest_closes(s, ASKED)
                s.info[RUN_BARS_KEY] = bars
                mem = latest_closes(s, ASKED)
            assert list(mem) == list(stored)
            for sym, (close, ts) in stored.items():
                assert str(mem[sym][0]) == str(close)  # the same Decimal digits, not only the same value
                assert mem[sym][1] == ts and mem[sym][1].tzinfo is ts.tzinfo is UTC
        assert skipped == 3
        assert "BRVO" in stored and "NONE" not in stored
        assert stored["IDX"][1] == frames["IDX"]["timestamp"].iloc[38].to_pydatetime()  # the NaN bar never counts
    finally:
        store.dispose()


def test_the_market_jobs_own_store_agrees(tmp_path: Path) -> None:
    """The bars stored by the market job itself (engine.jobs.store_market_update, which drops the bad closes) on a
    backtest's private store: the memory answer equals the store's after every poll."""
    frames = _frames()
    source = FrameReplaySource(frames, "IDX")
    settings = backtest_settings(tmp_path, 1e6, 0.0, 0.0, 1.0)
    ctx, clock = private_context(tmp_path, source, settings)
    bars = RunBars(frames, source)
    try:
        jobs.ensure_instruments(ctx)
        while (ts := source.next_ts()) is not None:
            clock.set(ts)
            jobs.store_market_update(ctx, source.poll())
            with ctx.store.read() as s:
                stored = latest_closes(s, ASKED)
                s.info[RUN_BARS_KEY] = bars
                mem = latest_closes(s, ASKED)
            assert [(k, str(v[0]), v[1]) for k, v in mem.items()] == [(k, str(v[0]), v[1]) for k, v in stored.items()]
        assert stored["IDX"][1] == frames["IDX"]["timestamp"].iloc[38].to_pydatetime()
    finally:
        ctx.store.dispose()
