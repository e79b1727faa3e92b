"""Price-based regime modules: hand-checked values, TA-Lib agreement, parameter direction."""
from __future__ import annotations

import math

import numpy as np
import pytest
import talib

from engine.params import default_params
from engine.regime.modules.atr import ATRModule, smoothed_atr
from engine.regime.modules.correlation import CorrelationModule
from engine.regime.modules.mtf import MultiTimeframeModule, timeframe_minutes
from engine.regime.modules.volume_profile import VolumeProfileModule, weighted_quantiles
from engine.regime.series import BROWNIAN_RANGE, TRADING_DAYS_PER_YEAR
from engine.regime.testing import edited, frame_for, ohlcv

PS = default_params()


def _walk(n: int, drift: float, sigma: float = 0.001, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(drift + sigma * rng.standard_normal(n)))


def _scores(module, df, ps=PS, peers=None) -> list:
    frame = frame_for(df, ps, peers)
    module.prepare(frame)
    return [module.step(i, None, frame) for i in range(len(df))]


@pytest.mark.parametrize("smoothing,fn", [("EMA", talib.EMA), ("SMA", talib.SMA), ("WMA", talib.WMA)])
def test_atr_smoothing_agrees_with_talib(smoothing: str, fn) -> None:
    df = ohlcv(_walk(300, 0.0, 0.003))
    h, lo, c = (df[k].to_numpy() for k in ("high", "low", "close"))
    got = smoothed_atr(h, lo, c, 14, smoothing, True)
    np.testing.assert_allclose(got, fn(talib.TRANGE(h, lo, c), timeperiod=14), equal_nan=True)
    np.testing.assert_allclose(smoothed_atr(h, lo, c, 14, smoothing, False), fn(h - lo, timeperiod=14), equal_nan=True)


def test_atr_hand_checked_constant_range_and_annualised_vol() -> None:
    n = 120
    df = ohlcv(np.full(n, 100.0), spread=0.01)  # high 101, low 99: true range 2 every bar
    res = _scores(ATRModule(PS), df)[-1]
    assert res.active
    assert res.diagnostics["atr"] == pytest.approx(2.0)
    bars_per_year = 375 * TRADING_DAYS_PER_YEAR  # 09:15-15:30 session of 1-minute bars
    assert res.vol == pytest.approx(0.02 / BROWNIAN_RANGE * math.sqrt(bars_per_year))
    assert abs(res.score) < 1e-9  # flat close: no direction


def test_atr_direction_and_band_multiplier_parameter() -> None:
    up = ohlcv(_walk(200, 0.0008))
    down = ohlcv(_walk(200, -0.0008))
    s_up = _scores(ATRModule(PS), up)[-1].score
    assert s_up > 0.2
    assert _scores(ATRModule(PS), down)[-1].score < -0.2
    wide = edited(PS, {("ATRIndicatorsConfig", "upper_band_multiplier"): 3.0})
    assert 0 < _scores(ATRModule(wide), up)[-1].score < s_up  # wider bands: the same move is less extreme


def test_atr_percentile_boundaries_parameter() -> None:
    m = ATRModule(PS)
    assert (m.vol_class_code(20.0), m.vol_class_code(50.0), m.vol_class_code(90.0)) == (0, 1, 2)
    m2 = ATRModule(edited(PS, {("ATRIndicatorsConfig", "low_vol_atr_percentile"): 40.0}))
    assert m2.vol_class_code(35.0) == 0 and m.vol_class_code(35.0) == 1


def test_mtf_slope_is_exact_for_a_log_linear_trend() -> None:
    n, b = 400, 2e-4
    t = np.arange(n)
    close = 100 * np.exp(b * t + 1e-4 * (-1.0) ** t)
    m = MultiTimeframeModule(PS)
    res = _scores(m, ohlcv(close))[-1]
    assert res.active and res.score > 0.5
    # slope per bar of the longest timeframe (60 minutes of 1-minute bars)
    assert m.slope_ref(n - 1) == pytest.approx(b * 60, rel=0.02)
    assert _scores(MultiTimeframeModule(PS), ohlcv(close[::-1].copy()))[-1].score < -0.5


def test_mtf_timeframe_labels_and_daily_collapse() -> None:
    assert timeframe_minutes("15min", 15) == 15 and timeframe_minutes("1h", 0) == 60
    df = ohlcv(_walk(100, 0.002, 0.01), minutes=1440)
    m = MultiTimeframeModule(PS)
    res = _scores(m, df)[-1]
    assert res.active and res.diagnostics["timeframes"] == 5  # every timeframe collapses onto the daily bar


def test_mtf_divergence_penalty_parameter() -> None:
    df = ohlcv(_walk(600, 0.00005, 0.001, seed=4))
    base = np.array([r.score for r in _scores(MultiTimeframeModule(PS), df) if r.active])
    harsh = edited(PS, {("MultiTimeframeConfig", "divergence_penalty"): 0.9})
    pen = np.array([r.score for r in _scores(MultiTimeframeModule(harsh), df) if r.active])
    assert np.mean(np.abs(pen)) < np.mean(np.abs(base))


def test_weighted_quantiles_hand_checked() -> None:
    v = np.array([[1.0, 2.0, 3.0, 4.0]])
    w = np.array([[1.0, 1.0, 1.0, 5.0]])
    q = weighted_quantiles(v, w, (0.16, 0.5, 0.84))
    assert q[0].tolist() == [2.0, 4.0, 4.0]


def test_volume_profile_zero_volume_drops_out() -> None:
    res = _scores(VolumeProfileModule(PS), ohlcv(_walk(60, 0.0), volume=0.0))[-1]
    assert not res.active and "VolumeDataCheck" in res.reason_if_inactive


def test_volume_profile_direction_and_poc_weight() -> None:
    close = np.r_[100 + 0.2 * np.sin(np.arange(40)), np.linspace(100, 101, 10)]
    df = ohlcv(close, volume=np.r_[np.full(40, 5000.0), np.full(10, 500.0)])
    res = _scores(VolumeProfileModule(PS), df)[-1]
    assert res.active and res.score > 0.3 and res.diagnostics["volume_profile"] == "above_value"
    only_poc = edited(PS, cells={("IndicatorConfiguration", "main", 6, "parameters"):
                                 "profile_periods=20,poc_weight=1.0,value_area=0.68"})
    res1 = _scores(VolumeProfileModule(only_poc), df)[-1]
    assert res1.score == pytest.approx(math.tanh((close[-1] - res1.diagnostics["poc"]) /
                                                 ((res1.diagnostics["value_area_high"] - res1.diagnostics["value_area_low"]) / 2)))


def test_correlation_needs_peers_and_follows_correlated_peer() -> None:
    close = _walk(200, 0.0005, 0.002)
    df = ohlcv(close)
    assert not _scores(CorrelationModule(PS), df)[-1].active
    rng = np.random.default_rng(9)
    peer = close * np.exp(0.0002 * rng.standard_normal(len(close)))
    res = _scores(CorrelationModule(PS), df, peers={"PEER": peer})[-1]
    assert res.active and res.diagnostics["rho_PEER"] > 0.9 and res.score > 0.3
    noise = 100 * np.exp(np.cumsum(0.002 * rng.standard_normal(len(close))))
    res2 = _scores(CorrelationModule(PS), df, peers={"NOISE": noise})[-1]
    assert res2.active and res2.score == 0.0 and res2.diagnostics["correlated_peers"] == 0


def test_atr_module_diagnostics_agree_with_talib() -> None:
    df = ohlcv(_walk(400, 0.0002, 0.002, seed=6))
    h, lo, c = (df[k].to_numpy() for k in ("high", "low", "close"))
    res = _scores(ATRModule(PS), df)
    assert res[-1].diagnostics["adx"] == pytest.approx(talib.ADX(h, lo, c, 14)[-1])
    assert res[-1].diagnostics["rsi"] == pytest.approx(talib.RSI(c, 14)[-1])
    up, _, dn = talib.BBANDS(c, 20, 2.0, 2.0)
    atr = talib.EMA(talib.TRANGE(h, lo, c), 14)
    assert res[-1].diagnostics["squeeze"] == bool((up[-1] - dn[-1]) < 0.75 * 4.0 * atr[-1])
    assert not res[20].active  # ADX (2n-1 bars) still warming up
