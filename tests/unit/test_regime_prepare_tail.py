"""Module prepare over the emitted rows only: bit-identical to the whole-buffer formulas it replaced."""
from __future__ import annotations

import dataclasses

import numpy as np
import talib

from engine.params import default_params
from engine.regime.intraday import IntradayClock
from engine.regime.modules.atr import ATRModule
from engine.regime.modules.mtf import MultiTimeframeModule
from engine.regime.modules.straddle import StraddleModule, pivots
from engine.regime.series import LONG_ROWS, session_ohlc
from engine.regime.testing import frame_for, ohlcv

PS = default_params()


def _walk(n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = 100.0 * np.exp(np.cumsum(0.002 * rng.standard_normal(n)))
    c[200:230] = c[199]  # a flat stretch: RSI's neutral override and empty in-range windows
    return c


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


def test_atr_rows_from_off_equal_the_whole_buffer_rows() -> None:
    frame = frame_for(ohlcv(_walk(700)), PS)
    whole, part = ATRModule(PS), ATRModule(PS)
    whole.prepare(frame)
    for off in (0, 5, 300, 699):
        part.prepare(dataclasses.replace(frame, rows=np.arange(off, 700)))
        assert whole.a.keys() == part.a.keys()
        for k, v in whole.a.items():
            assert _same(np.asarray(v[off:], np.float64), np.asarray(part.a[k], np.float64)), (k, off)


def test_atr_in_range_and_flat_rsi_match_talib_bit_for_bit() -> None:
    frame = frame_for(ohlcv(_walk(700)), PS)
    m = ATRModule(PS)
    m.prepare(frame)
    b = frame.buf
    atr = talib.EMA(talib.TRANGE(b.high, b.low, b.close), timeperiod=m.period)
    dist = b.close - talib.EMA(b.close, timeperiod=m.period) * (1.0 + m.shift)
    with np.errstate(invalid="ignore"):
        inside = (np.abs(dist) <= np.maximum(m.up_mult, m.lo_mult) * atr).astype(np.float64)
    assert _same(m.a["in_range"], talib.SMA(inside, timeperiod=m.squeeze_lookback))
    w = m.period + 1
    flat = talib.MAX(b.close, timeperiod=w) - talib.MIN(b.close, timeperiod=w) == 0
    assert flat.any()
    assert _same(m.a["rsi"], np.where(flat, 50.0, talib.RSI(b.close, timeperiod=m.period)))


def test_mtf_slice_and_gather_agree() -> None:
    frame = frame_for(ohlcv(_walk(900)), PS)
    tail, gather = MultiTimeframeModule(PS), MultiTimeframeModule(PS)
    tail.prepare(dataclasses.replace(frame, rows=np.arange(300, 900)))
    gather.prepare(dataclasses.replace(frame, rows=np.arange(300, 899)))  # not the buffer's tail: gathered
    assert tail.arrays.keys() == gather.arrays.keys()
    for k, v in gather.arrays.items():
        assert _same(np.asarray(tail.arrays[k][:-1], np.float64), np.asarray(v, np.float64)), k


def test_pivots_per_bar_equal_the_eager_take() -> None:
    frame = frame_for(ohlcv(_walk(3000)), PS)
    m = StraddleModule(PS)
    m.prepare(frame)
    b = frame.buf
    o, h, lo, c, take = session_ohlc(frame.day, b.open, b.high, b.low, b.close)
    eager = {f: tuple(a[take] for a in lv) for f, lv in pivots(o, h, lo, c).items()}
    assert list(m.piv) == list(eager) and len(m.piv) == len(eager)
    for f, lv in eager.items():
        assert all(_same(x, y) for x, y in zip(lv, m.piv[f], strict=True)), f


def test_slot_lookup_equals_the_comparisons() -> None:
    clock = IntradayClock(PS)
    minute = np.random.default_rng(0).integers(0, 1440, 5000)
    assert np.array_equal(clock.slot_index(minute, True), clock._table(minute))
    odd = np.array([-5, 0, 600, 2000])  # outside a day: compared, not looked up
    assert np.array_equal(clock.slot_index(odd, True), clock._table(odd))
    assert np.array_equal(clock.slot_index(minute.astype(float), True), clock._table(minute))
    assert (clock.slot_index(minute, False) == -1).all()


def test_mtf_plain_python_rows_equal_the_compiled_rows() -> None:
    """The live path's few rows run mtf_sums.add_timeframe as Python; a replay's long row sets run the same
    function compiled (batch/vote.py): the same floats, bit for bit."""
    frame = frame_for(ohlcv(_walk(900)), PS)
    few, many = MultiTimeframeModule(PS), MultiTimeframeModule(PS)
    assert LONG_ROWS <= 900 - 600
    many.prepare(dataclasses.replace(frame, rows=np.arange(600, 900)))  # compiled sums
    for k in (1, 5, LONG_ROWS - 1):
        few.prepare(dataclasses.replace(frame, rows=np.arange(900 - k, 900)))  # plain Python sums
        assert few.arrays.keys() == many.arrays.keys()
        for key, v in many.arrays.items():
            assert _same(np.asarray(few.arrays[key], np.float64), np.asarray(v[-k:], np.float64)), (key, k)
