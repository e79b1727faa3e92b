"""Black-Scholes maths: parity, analytic Greeks vs finite differences, implied-vol round trips."""
from __future__ import annotations

import numpy as np
import pytest

from engine.market.options import bs_greeks, bs_price, bs_price_greeks, implied_vol


def _grid():
    """Spot 100, strikes from deep ITM to deep OTM, expiries from an hour to three years."""
    k = np.array([40.0, 70.0, 90.0, 97.5, 100.0, 102.5, 110.0, 140.0, 250.0])
    t = np.array([1 / (365 * 24), 1 / 365, 7 / 365, 30 / 365, 0.5, 3.0])
    v = np.array([0.05, 0.2, 0.6, 1.5])
    kk, tt, vv = (a.ravel() for a in np.meshgrid(k, t, v, indexing="ij"))
    n = kk.size
    kind = np.where(np.arange(n) % 2 == 0, "C", "P")
    return 100.0, kk, tt, vv, kind


def test_put_call_parity_holds_to_1e_8():
    s, k, t, v, _ = _grid()
    for r, q in [(0.0, 0.0), (0.05, 0.02), (-0.01, 0.03)]:
        c = bs_price(s, k, t, v, "C", r, q)
        p = bs_price(s, k, t, v, "P", r, q)
        np.testing.assert_allclose(c - p, s * np.exp(-q * t) - k * np.exp(-r * t), rtol=0, atol=1e-8)


def test_prices_respect_no_arbitrage_bounds():
    s, k, t, v, kind = _grid()
    price = bs_price(s, k, t, v, kind, 0.03, 0.01)
    call = kind == "C"
    fs, fk = s * np.exp(-0.01 * t), k * np.exp(-0.03 * t)
    lower = np.where(call, np.maximum(fs - fk, 0), np.maximum(fk - fs, 0))
    upper = np.where(call, fs, fk)
    assert np.all(price >= lower - 1e-12)
    assert np.all(price <= upper + 1e-12)


@pytest.mark.parametrize("kind", ["C", "P"])
def test_analytic_greeks_match_central_differences(kind):
    s, k, t, v, _ = _grid()
    keep = t >= 7 / 365  # finite differences in t need room on both sides
    k, t, v = k[keep], t[keep], v[keep]
    r, q = 0.04, 0.015
    g = bs_greeks(s, k, t, v, kind, r, q)
    hs, hv, ht = 1e-4 * s, 1e-5, 1e-6

    def price(ds=0.0, dv=0.0, dt=0.0):
        return bs_price(s + ds, k, t + dt, v + dv, kind, r, q)

    delta = (price(hs) - price(-hs)) / (2 * hs)
    gamma = (price(hs) - 2 * price() + price(-hs)) / hs**2
    vega = (price(dv=hv) - price(dv=-hv)) / (2 * hv)
    theta = -(price(dt=ht) - price(dt=-ht)) / (2 * ht)
    np.testing.assert_allclose(g.delta, delta, atol=1e-6, rtol=1e-5)
    np.testing.assert_allclose(g.gamma, gamma, atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(g.vega, vega, atol=1e-5, rtol=1e-6)
    np.testing.assert_allclose(g.theta, theta, atol=1e-3, rtol=1e-5)


def test_fast_chain_path_equals_the_general_functions():
    s, k, t, v, kind = _grid()
    call = kind == "C"
    price, g = bs_price_greeks(s, k, t, v, call, 0.04, 0.01)
    ref = bs_greeks(s, k, t, v, kind, 0.04, 0.01)
    np.testing.assert_allclose(price, bs_price(s, k, t, v, kind, 0.04, 0.01), rtol=1e-12, atol=1e-12)
    for name in ("delta", "gamma", "vega", "theta"):
        np.testing.assert_allclose(getattr(g, name), getattr(ref, name), rtol=1e-10, atol=1e-12)


def test_expired_and_zero_vol_options_are_intrinsic_not_nan():
    price = bs_price(100.0, np.array([90.0, 110.0, 90.0]), np.array([0.0, 0.0, 0.5]), np.array([0.2, 0.2, 0.0]), "C")
    np.testing.assert_allclose(price, [10.0, 0.0, 10.0])
    g = bs_greeks(100.0, np.array([90.0, 110.0]), 0.0, 0.2, "C")
    np.testing.assert_array_equal(g.delta, [1.0, 0.0])
    assert not np.isnan(g.gamma).any()


def test_implied_vol_round_trips_prices_on_a_grid_with_deep_itm_otm_and_short_expiries():
    s, k, t, v, kind = _grid()
    r, q = 0.03, 0.01
    price = bs_price(s, k, t, v, kind, r, q)
    iv = implied_vol(price, s, k, t, kind, r, q)
    assert not np.isnan(iv).any(), "implied_vol must not fail on valid prices"
    np.testing.assert_allclose(bs_price(s, k, t, iv, kind, r, q), price, rtol=1e-8, atol=1e-9)
    # Where the price actually carries vol information, the vol itself comes back.
    vega = bs_greeks(s, k, t, v, kind, r, q).vega
    informative = vega > 1e-4 * s * np.sqrt(t)
    assert informative.sum() > 100
    np.testing.assert_allclose(iv[informative], v[informative], rtol=1e-7)


def test_implied_vol_random_100k_never_fails():
    rng = np.random.default_rng(3)
    n = 100_000
    k = rng.uniform(30, 250, n)
    t = rng.choice([1 / 365 / 24, 1 / 365, 7 / 365, 0.1, 1.0, 3.0], n)
    v = rng.uniform(0.03, 1.5, n)
    kind = rng.choice(["C", "P"], n)
    price = bs_price(100.0, k, t, v, kind, 0.02, 0.0)
    iv = implied_vol(price, 100.0, k, t, kind, 0.02, 0.0)
    assert not np.isnan(iv).any()
    np.testing.assert_allclose(bs_price(100.0, k, t, iv, kind, 0.02, 0.0), price, atol=1e-9)


def test_implied_vol_flags_impossible_prices_as_nan():
    k = np.array([100.0, 100.0, 100.0])
    # below intrinsic, above the spot, expired
    iv = implied_vol(np.array([-1.0, 150.0, 5.0]), 100.0, k, np.array([0.5, 0.5, 0.0]), "C")
    assert np.isnan(iv).all()
    assert implied_vol(np.array([10.0]), 110.0, np.array([100.0]), 0.5, "C")[0] == 0.0  # exactly intrinsic
