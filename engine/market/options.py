"""Black-Scholes prices, analytic Greeks and implied volatility, vectorised over numpy arrays.

Conventions (the same as OptionChain): ``t`` is in years, ``vol`` is annualised, ``rate``
and ``div`` are continuous yields; vega is per 1.00 of vol and theta per year of calendar
time passing (dV/dt = -dV/dT). ``kind`` is an array of "C"/"P" strings or a bool array
(True = call). Expired options (t <= 0) and zero vol are priced at (discounted) intrinsic
value so a chain near expiry never produces NaN.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

ArrayLike = np.ndarray | float | int

_SQRT_2PI = np.sqrt(2.0 * np.pi)
_VOL_LO = 1e-6
_VOL_HI = 20.0


def _pdf(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x * x) / _SQRT_2PI


def is_call(kind: np.ndarray | str | bool) -> np.ndarray:
    """Normalise "C"/"P" strings or booleans to a bool array (True = call)."""
    arr = np.asarray(kind)
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind in "US":
        return (arr == "C") | (arr == "c")
    raise TypeError(f"kind must be 'C'/'P' strings or booleans, got dtype {arr.dtype}")


@dataclass(frozen=True, slots=True)
class Greeks:
    delta: np.ndarray
    gamma: np.ndarray
    vega: np.ndarray
    theta: np.ndarray


def _d1_d2(spot, strike, t, vol, rate, div):
    sq = vol * np.sqrt(t)
    d1 = (np.log(spot / strike) + (rate - div + 0.5 * vol * vol) * t) / sq
    return d1, d1 - sq, sq


def _live_inputs(
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    vol: ArrayLike,
    kind: np.ndarray | str | bool,
    rate: ArrayLike,
    div: ArrayLike,
) -> tuple[np.ndarray, ...]:
    """(spot, strike, t, rate, div, call, live, ts, vs) broadcast to one shape, for the analytic formulas.

    live marks t > 0 and vol > 0; ts and vs put 1.0 in place of t and vol elsewhere, so the formulas stay
    finite for expired and zero-vol options, whose results the callers replace with intrinsic values.
    """
    call = is_call(kind)
    spot, strike, t, vol, rate, div, call = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (spot, strike, t, vol, rate, div)), call
    )
    live = (t > 0) & (vol > 0)
    return spot, strike, t, rate, div, call, live, np.where(live, t, 1.0), np.where(live, vol, 1.0)


def bs_price(
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    vol: ArrayLike,
    kind: np.ndarray | str | bool,
    rate: ArrayLike = 0.0,
    div: ArrayLike = 0.0,
) -> np.ndarray:
    """European option price under Black-Scholes-Merton (analytic)."""
    spot, strike, t, rate, div, call, live, ts, vs = _live_inputs(spot, strike, t, vol, kind, rate, div)
    df_r = np.exp(-rate * np.maximum(t, 0.0))
    df_q = np.exp(-div * np.maximum(t, 0.0))
    d1, d2, _ = _d1_d2(spot, strike, ts, vs, rate, div)
    sign = np.where(call, 1.0, -1.0)
    price = sign * (spot * df_q * ndtr(sign * d1) - strike * df_r * ndtr(sign * d2))
    intrinsic = np.maximum(sign * (spot * df_q - strike * df_r), 0.0)
    return np.where(live, price, intrinsic)


def bs_greeks(
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    vol: ArrayLike,
    kind: np.ndarray | str | bool,
    rate: ArrayLike = 0.0,
    div: ArrayLike = 0.0,
) -> Greeks:
    """Analytic delta, gamma, vega (per 1.00 vol) and theta (per year) for each option."""
    spot, strike, t, rate, div, call, live, ts, vs = _live_inputs(spot, strike, t, vol, kind, rate, div)
    df_r = np.exp(-rate * ts)
    df_q = np.exp(-div * ts)
    d1, d2, sq = _d1_d2(spot, strike, ts, vs, rate, div)
    sign = np.where(call, 1.0, -1.0)
    nd1 = ndtr(sign * d1)
    nd2 = ndtr(sign * d2)
    pdf1 = _pdf(d1)
    delta = sign * df_q * nd1
    gamma = df_q * pdf1 / (spot * sq)
    vega = spot * df_q * pdf1 * np.sqrt(ts)
    theta = (
        -spot * df_q * pdf1 * vs / (2.0 * np.sqrt(ts))
        - sign * rate * strike * df_r * nd2
        + sign * div * spot * df_q * nd1
    )
    # Expired or zero-vol: delta is the in-the-money indicator, the rest vanish.
    itm = np.where(call, spot > strike, spot < strike)
    dead_delta = np.where(itm, sign, 0.0)
    zero = np.zeros_like(delta)
    return Greeks(
        delta=np.where(live, delta, dead_delta),
        gamma=np.where(live, gamma, zero),
        vega=np.where(live, vega, zero),
        theta=np.where(live, theta, zero),
    )


def bs_price_greeks(
    spot: float,
    strike: np.ndarray,
    t: np.ndarray,
    vol: np.ndarray,
    call: np.ndarray,
    rate: float = 0.0,
    div: float = 0.0,
) -> tuple[np.ndarray, Greeks]:
    """Price and Greeks in one pass for live options (t > 0, vol > 0; call a bool array).

    The fast path for chains: no broadcasting or expiry handling, same formulas as above.
    """
    sqt = np.sqrt(t)
    sq = vol * sqt
    d1 = (np.log(spot / strike) + (rate - div + 0.5 * vol * vol) * t) / sq
    d2 = d1 - sq
    sign = np.where(call, 1.0, -1.0)
    fs = spot * np.exp(-div * t)
    kd = strike * np.exp(-rate * t)
    nd1 = ndtr(sign * d1)
    nd2 = ndtr(sign * d2)
    pdf1 = _pdf(d1)
    price = sign * (fs * nd1 - kd * nd2)
    greeks = Greeks(
        delta=sign * np.exp(-div * t) * nd1,
        gamma=fs * pdf1 / (spot * spot * sq),
        vega=fs * pdf1 * sqt,
        theta=-fs * pdf1 * vol / (2.0 * sqt) - sign * rate * kd * nd2 + sign * div * fs * nd1,
    )
    return price, greeks


def _price_vega(s, k, t, sigma, call, r, q):
    """Price and vega for live options (t > 0, sigma > 0), no broadcasting: the IV inner loop."""
    sq = sigma * np.sqrt(t)
    d1 = (np.log(s / k) + (r - q + 0.5 * sigma * sigma) * t) / sq
    d2 = d1 - sq
    sign = np.where(call, 1.0, -1.0)
    fs = s * np.exp(-q * t)
    price = sign * (fs * ndtr(sign * d1) - k * np.exp(-r * t) * ndtr(sign * d2))
    return price, fs * _pdf(d1) * np.sqrt(t)


def implied_vol(
    price: ArrayLike,
    spot: ArrayLike,
    strike: ArrayLike,
    t: ArrayLike,
    kind: np.ndarray | str | bool,
    rate: ArrayLike = 0.0,
    div: ArrayLike = 0.0,
    tol: float = 1e-12,
    max_iter: int = 100,
) -> np.ndarray:
    """Implied volatility by safeguarded Newton: Newton steps inside a shrinking bracket,
    a geometric bisection whenever Newton would leave it, so it always converges.

    In-the-money options are solved through their out-of-the-money twin (put-call parity),
    where the time value is not buried under intrinsic value. Returns NaN where the price is
    outside the no-arbitrage bounds or t <= 0, and 0.0 for a price equal to intrinsic value.
    """
    call = is_call(kind)
    price, spot, strike, t, rate, div, call = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (price, spot, strike, t, rate, div)), call
    )
    shape = price.shape
    price, spot, strike, t, rate, div, call = (
        np.ravel(a) for a in (price, spot, strike, t, rate, div, call)
    )
    out = np.full(price.shape, np.nan)
    fwd_s = spot * np.exp(-div * np.maximum(t, 0.0))
    fwd_k = strike * np.exp(-rate * np.maximum(t, 0.0))
    # OTM twin: an ITM call is a call = put + (S e^-qT - K e^-rT).
    otm_call = fwd_s < fwd_k  # calls are OTM when the forward is below the strike
    parity = fwd_s - fwd_k
    twin_price = np.where(call == otm_call, price, np.where(call, price - parity, price + parity))
    upper = np.where(otm_call, fwd_s, fwd_k)
    scale = np.maximum(fwd_s, fwd_k)
    valid = (t > 0) & (spot > 0) & (strike > 0) & np.isfinite(price) & (twin_price >= -1e-14 * scale)
    valid &= twin_price < upper
    at_floor = valid & (twin_price <= 1e-300)
    out[at_floor] = 0.0
    idx = np.flatnonzero(valid & ~at_floor)
    if idx.size == 0:
        return out.reshape(shape)

    p, s, k, tt, r, q, c = (a[idx] for a in (twin_price, spot, strike, t, rate, div, otm_call))
    lo = np.full(idx.size, _VOL_LO)
    hi = np.full(idx.size, _VOL_HI)
    # Start from the Brenner-Subrahmanyam ATM approximation, kept inside the bracket.
    sigma = np.clip(np.sqrt(2.0 * np.pi / tt) * p / s, 0.05, 1.0)
    # Below ~1e-15 of the strike the price itself is float noise: do not chase it.
    ptol = np.maximum(tol * p, 1e-15 * np.maximum(s, k))
    active = np.arange(idx.size)
    result = np.full(idx.size, np.nan)
    for _ in range(max_iter):
        sa, ka, ta, ra, qa, ca = s[active], k[active], tt[active], r[active], q[active], c[active]
        sg = sigma[active]
        model, vega = _price_vega(sa, ka, ta, sg, ca, ra, qa)
        diff = model - p[active]
        lo_a = np.where(diff < 0, sg, lo[active])
        hi_a = np.where(diff > 0, sg, hi[active])
        done = (np.abs(diff) <= ptol[active]) | (hi_a / lo_a - 1.0 < 1e-13)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            newton = sg - diff / vega
        bad = ~np.isfinite(newton) | (newton <= lo_a) | (newton >= hi_a)
        nxt = np.where(bad, np.sqrt(lo_a * hi_a), newton)
        done |= ~bad & (np.abs(newton - sg) <= 1e-14 * sg)  # Newton has stalled at float precision
        result[active[done]] = sg[done]
        keep = ~done
        active = active[keep]
        if active.size == 0:
            break
        lo[active], hi[active], sigma[active] = lo_a[keep], hi_a[keep], nxt[keep]
    if active.size:  # bracket is tight even if the price tolerance was not met
        result[active] = sigma[active]
    out[idx] = result
    return out.reshape(shape)
