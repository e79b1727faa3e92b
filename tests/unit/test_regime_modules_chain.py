"""Option-chain regime modules: hand-checked values, degradation without a chain, parameter direction."""
from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from engine.params import default_params
from engine.regime.modules.chainutil import ChainView, higher_greeks
from engine.regime.modules.greeks import GreekSentimentModule
from engine.regime.modules.iv_surface import ABNORMAL_CAP, IVSurfaceModule
from engine.regime.modules.oipa import TrendingOIPAModule, max_pain, pattern
from engine.regime.modules.straddle import StraddleModule, pivot_position, pivots
from engine.regime.testing import chain, edited, frame_for, ohlcv

PS = default_params()
T0 = datetime(2026, 1, 5, 3, 45, tzinfo=UTC)


def _frame(close: np.ndarray, ps=PS):
    return frame_for(ohlcv(close), ps)


def _run(module, chains: list, close: np.ndarray, ps=PS) -> list:
    frame = _frame(close, ps)
    module.prepare(frame)
    first = len(close) - len(chains)
    return [module.step(first + k, c, frame) for k, c in enumerate(chains)]


def test_every_chain_module_drops_out_without_a_chain() -> None:
    frame = _frame(np.full(40, 100.0))
    for cls in (GreekSentimentModule, TrendingOIPAModule, StraddleModule, IVSurfaceModule):
        m = cls(PS)
        assert m.needs_chain  # from IndicatorConfiguration RequiresData
        m.prepare(frame)
        res = m.step(39, None, frame)
        assert not res.active and "no option chain" in res.reason_if_inactive


def test_chain_view_atm_and_interpolation() -> None:
    v = ChainView(chain(100.0, T0, atm_iv=0.25, skew=0.0))
    assert v.atm == 100.0 and v.step == pytest.approx(0.5)
    assert v.iv_at(7.0, 100.25) == pytest.approx(0.25)
    assert math.isnan(v.iv_at(7.0, 500.0))


def test_higher_greeks_match_finite_differences() -> None:
    s, k, t, iv = 100.0, np.array([95.0, 105.0]), np.array([0.1, 0.1]), np.array([0.2, 0.25])
    g = higher_greeks(s, k, t, iv)

    def delta(spot, vol, tt):
        from scipy.stats import norm
        return norm.cdf((np.log(spot / k) + 0.5 * vol * vol * tt) / (vol * np.sqrt(tt)))

    h = 1e-5
    np.testing.assert_allclose(g["vanna"], (delta(s, iv + h, t) - delta(s, iv - h, t)) / (2 * h), rtol=1e-4)
    np.testing.assert_allclose(g["charm"], -(delta(s, iv, t + h) - delta(s, iv, t - h)) / (2 * h), rtol=1e-4)


def test_greek_sentiment_follows_call_versus_put_positioning() -> None:
    close = np.full(60, 100.0)
    base = [chain(100.0, T0 + timedelta(minutes=k)) for k in range(5)]
    calls = base + [chain(100.0, T0 + timedelta(minutes=5 + k), call_oi=1000 + 300 * (k + 1)) for k in range(5)]
    puts = base + [chain(100.0, T0 + timedelta(minutes=5 + k), put_oi=1000 + 300 * (k + 1)) for k in range(5)]
    up = _run(GreekSentimentModule(PS), calls, close)[-1]
    down = _run(GreekSentimentModule(PS), puts, close)[-1]
    assert up.active and up.score > 0.3 and up.diagnostics["net_delta"] > 0
    assert down.score < -0.3
    assert {"vanna", "charm", "volga", "veta", "speed"} <= set(up.diagnostics)
    # parameter direction: a heavier smoothing factor keeps more of the neutral start
    smooth = edited(PS, {("GreekSentimentConfig", "sentiment_smoothing"): 0.5})
    assert 0 < _run(GreekSentimentModule(smooth), calls, close)[-1].score < up.score


def test_max_pain_and_oi_patterns_hand_checked() -> None:
    strike = np.array([90.0, 100.0, 110.0, 90.0, 100.0, 110.0])
    call = np.array([True, True, True, False, False, False])
    oi = np.array([100.0, 0, 0, 0, 0, 100.0])
    # payoffs at 90: calls 0, puts 100*20=2000; at 100: calls 1000, puts 1000; at 110: calls 2000, puts 0
    assert max_pain(strike, call, oi) in (90.0, 100.0, 110.0)
    oi2 = np.array([10.0, 0, 0, 0, 0, 100.0])  # puts dominate -> pain lowest where puts expire worthless
    assert max_pain(strike, call, oi2) == 110.0
    assert pattern(+1, 0.1, 0.05) == "long_buildup" and pattern(-1, 0.1, 0.05) == "short_buildup"
    assert pattern(+1, -0.1, 0.05) == "short_covering" and pattern(-1, -0.1, 0.05) == "long_unwinding"
    assert pattern(+1, 0.01, 0.05) == "no_significant_oi_change"


def test_oipa_reads_oi_flow_with_price_action_and_confirmation() -> None:
    rise = np.linspace(100, 101, 60)
    fall = rise[::-1].copy()
    build_calls = [chain(100.0, T0 + timedelta(minutes=k), call_oi=1000 * (1 + 0.03 * k), put_oi=1000 * (1 - 0.01 * k))
                   for k in range(10)]
    build_puts = [chain(100.0, T0 + timedelta(minutes=k), put_oi=1000 * (1 + 0.03 * k), call_oi=1000 * (1 - 0.01 * k))
                  for k in range(10)]
    up = _run(TrendingOIPAModule(PS), build_calls, rise)[-1]
    assert up.score > 0.2 and up.diagnostics["confirmed"]
    assert _run(TrendingOIPAModule(PS), build_puts, fall)[-1].score < -0.2
    contra = _run(TrendingOIPAModule(PS), build_calls, fall)[-1]  # calls built while price falls
    assert not contra.diagnostics["confirmed"]
    loose = edited(PS, {("TrendingOIPAConfig", "pa_confirmation_required"): False})
    assert _run(TrendingOIPAModule(loose), build_calls, fall)[-1].score > contra.score


def test_pivot_formulas_hand_checked() -> None:
    o, h, lo, c = (np.array([x]) for x in (100.0, 110.0, 90.0, 105.0))
    piv = pivots(o, h, lo, c)
    p, r1, s1 = (float(x[0]) for x in piv["classic"])
    assert (p, r1, s1) == pytest.approx((305 / 3, 2 * 305 / 3 - 90, 2 * 305 / 3 - 110))
    assert float(piv["fibonacci"][1][0]) == pytest.approx(305 / 3 + 0.382 * 20)
    assert float(piv["camarilla"][1][0]) == pytest.approx(105 + 20 * 1.1 / 12)
    assert float(piv["woodie"][0][0]) == pytest.approx((110 + 90 + 210) / 4)
    assert float(piv["demark"][0][0]) == pytest.approx((2 * 110 + 90 + 105) / 4)  # close > open
    assert pivot_position(120.0, p, r1, s1, 0.002, 0.003) == 1.0
    assert pivot_position(p, p, r1, s1, 0.002, 0.003) == 0.0
    assert pivot_position(80.0, p, r1, s1, 0.002, 0.003) == -1.0
    # parameter direction: a bigger breakout threshold turns a marginal breakout into 'inside'
    assert pivot_position(r1 * 1.003, p, r1, s1, 0.002, 0.003) == 1.0
    assert pivot_position(r1 * 1.003, p, r1, s1, 0.005, 0.003) < 1.0


def test_straddle_implied_vol_and_levels() -> None:
    close = np.full(30, 100.0)
    res = _run(StraddleModule(PS), [chain(100.0, T0, atm_iv=0.2, skew=0.0)], close)[-1]
    assert res.active and res.vol == pytest.approx(0.2, rel=0.05)
    assert res.diagnostics["atm_strike"] == 100.0


def test_iv_surface_term_structure_skew_and_abnormal_cap() -> None:
    close = np.full(40, 100.0)
    contango = _run(IVSurfaceModule(PS), [chain(100.0, T0, term=0.2)], close)[-1]
    back = _run(IVSurfaceModule(PS), [chain(100.0, T0, term=-0.2)], close)[-1]
    assert contango.diagnostics["term_state"] == "contango" and back.diagnostics["term_state"] == "backwardation"
    assert contango.score > back.score
    assert contango.vol == pytest.approx(0.2, rel=0.01)
    assert contango.diagnostics["skew"] < 0  # negative smile: puts richer
    seq = [chain(100.0, T0 + timedelta(minutes=k), atm_iv=0.2 + 0.001 * (k % 2)) for k in range(20)]
    seq.append(chain(100.0, T0 + timedelta(minutes=20), atm_iv=0.6, term=0.3))
    last = _run(IVSurfaceModule(PS), seq, np.full(60, 100.0))[-1]
    assert last.diagnostics["abnormal_surface"] and abs(last.score) <= ABNORMAL_CAP
    # parameter direction: more weight on the term structure moves the contango reading up
    heavy = edited(PS, {("IVSurfaceConfig", "term_structure_weight"): 0.6})
    assert _run(IVSurfaceModule(heavy), [chain(100.0, T0, term=0.2)], close)[-1].score > contango.score


def test_cubic_interpolation_is_exact_for_a_cubic_smile() -> None:
    from engine.regime.modules.chainutil import local_cubic

    x = np.arange(10.0)
    y = 0.1 + 0.01 * x - 0.002 * x**2 + 0.0003 * x**3
    assert local_cubic(x, y, 4.37) == pytest.approx(0.1 + 0.01 * 4.37 - 0.002 * 4.37**2 + 0.0003 * 4.37**3)
    v = ChainView(chain(100.0, T0, atm_iv=0.25, skew=-0.1))
    assert v.iv_at(7.0, 100.1, None, "CUBIC_SPLINE") == pytest.approx(v.iv_at(7.0, 100.1), rel=1e-3)


def test_pivot_reset_parameter() -> None:
    close = 100 + np.sin(np.arange(900) / 20.0)
    df = ohlcv(close)
    frame = frame_for(df, PS)
    reset = StraddleModule(PS)
    reset.prepare(frame)
    rolling = StraddleModule(edited(PS, {("StraddleAnalysisConfig", "intraday_pivot_reset"): False}))
    rolling.prepare(frame)
    first_day_end = int(np.flatnonzero(frame.day != frame.day[0])[0]) if (frame.day != frame.day[0]).any() else 0
    assert np.isnan(reset.levels(first_day_end - 1)["pivot_classic"])  # no completed session yet
    assert np.isfinite(rolling.levels(500)["pivot_classic"])


def test_partial_chains_degrade_module_by_module() -> None:
    import dataclasses

    close = np.full(40, 100.0)
    good = chain(100.0, T0)
    no_greeks = dataclasses.replace(good, kind=good.kind.astype(object), delta=np.full(len(good), np.nan))
    v = ChainView(no_greeks)
    assert v.call.sum() == len(good) // 2  # object-dtype "C"/"P" read correctly
    assert not _run(GreekSentimentModule(PS), [no_greeks], close)[-1].active
    assert _run(IVSurfaceModule(PS), [no_greeks], close)[-1].active
    no_oi = dataclasses.replace(good, open_interest=np.zeros(len(good)))
    assert not _run(TrendingOIPAModule(PS), [no_oi], close)[-1].active
    no_iv = dataclasses.replace(good, iv=np.full(len(good), np.nan))
    assert not _run(IVSurfaceModule(PS), [no_iv], close)[-1].active
    no_px = dataclasses.replace(good, price=np.full(len(good), np.nan))
    assert not _run(StraddleModule(PS), [no_px], close)[-1].active
