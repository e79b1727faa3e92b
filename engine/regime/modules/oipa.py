"""TrendingOIPA (TrendingOIPAConfig): open-interest flow read together with price action.

Per snapshot (nearest expiry): call and put OI. Flow = tanh((dCall% - dPut%) / oi_change_threshold),
cumulative over ``oi_lookback_period`` snapshots and per snapshot (velocity), mixed by
cumulative_oi_weight / oi_velocity_weight. Price action = tanh(z of the ``pa_lookback``-bar move).
The classic pattern (long/short build-up, short covering, long unwinding) is reported. When
``pa_confirmation_required`` and price contradicts the flow, the flow counts zero. Put-call skew:
change of the put share (smoothed by skew_smoothing) over the lookback, rising puts = bearish.
Max pain pulls the score toward it with weight max_pain_weight. Divergence (flow vs price) is
counted and reported once it lasts ``divergence_confirmation_bars`` snapshots.
"""
from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from engine.market.types import OptionChain
from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.regime.modules.base import Frame, RegimeModule, clip1
from engine.regime.modules.chainutil import DAYS_PER_YEAR, ChainView
from engine.regime.types import ModuleResult


def max_pain(strike: np.ndarray, call: np.ndarray, oi: np.ndarray) -> float:
    """Strike at which option holders' total payoff is smallest."""
    ks = np.unique(strike)
    if len(ks) == 0:
        return float("nan")
    pay_c = (np.maximum(ks[:, None] - strike[None, :], 0.0) * (oi * call)[None, :]).sum(axis=1)
    pay_p = (np.maximum(strike[None, :] - ks[:, None], 0.0) * (oi * ~call)[None, :]).sum(axis=1)
    return float(ks[np.argmin(pay_c + pay_p)])


def pattern(price_dir: float, oi_change: float, threshold: float) -> str:
    if abs(oi_change) < threshold:
        return "no_significant_oi_change"
    if oi_change > 0:
        return "long_buildup" if price_dir > 0 else "short_buildup"
    return "short_covering" if price_dir > 0 else "long_unwinding"


SIGMA_WINDOWS = 4  # price-action sigma is measured over this many pa_lookback windows


class TrendingOIPAModule(RegimeModule):
    name, component, column = "TrendingOIPA", "TrendingOIPA", "trending_oi_pa"

    def __init__(self, ps: ParamSet) -> None:
        super().__init__(ps)
        c = Parameters(ps).trending_oipa_config
        self.lookback = int(c.oi_lookback_period)
        self.threshold = float(c.oi_change_threshold)
        self.w_cum = float(c.cumulative_oi_weight)
        self.w_vel = float(c.oi_velocity_weight)
        self.confirm = bool(c.pa_confirmation_required)
        self.pa_lookback = int(c.pa_lookback)
        self.strength = float(c.trend_strength_threshold)
        self.skew_on = bool(c.analyze_put_call_skew)
        self.skew_threshold = float(c.skew_threshold)
        self.skew_smoothing = float(c.skew_smoothing)
        self.buildup_on = bool(c.analyze_strike_buildup)
        self.mp_weight = float(c.max_pain_weight)
        self.sr_on = bool(c.support_resistance_from_oi)
        self.div_on = bool(c.detect_oi_price_divergence)
        self.div_threshold = float(c.divergence_threshold)
        self.div_bars = int(c.divergence_confirmation_bars)
        self._hist: deque[tuple[float, float, float]] = deque(maxlen=self.lookback + 1)
        self._skew_s: float | None = None
        self._div_count = 0

    def step(self, i: int, chain: OptionChain | ChainView | None, frame: Frame) -> ModuleResult:
        view = ChainView.of(chain)
        if view is None:
            return self.no_chain()
        chain = view.chain
        oi = np.nan_to_num(np.asarray(chain.open_interest, dtype=float))
        m = view.near
        call_oi, put_oi = float(oi[m & view.call].sum()), float(oi[m & ~view.call].sum())
        if call_oi + put_oi <= 0:
            return ModuleResult.inactive(self.name, "option chain has no open interest")
        put_share = put_oi / (call_oi + put_oi)
        self._skew_s = put_share if self._skew_s is None else \
            (1 - self.skew_smoothing) * put_share + self.skew_smoothing * self._skew_s
        self._hist.append((call_oi, put_oi, self._skew_s))
        c0, p0, s0 = self._hist[0]
        c1, p1, _ = self._hist[-2] if len(self._hist) > 1 else self._hist[0]
        d_cum = (call_oi / c0 - 1.0 if c0 > 0 else 0.0) - (put_oi / p0 - 1.0 if p0 > 0 else 0.0)
        d_vel = (call_oi / c1 - 1.0 if c1 > 0 else 0.0) - (put_oi / p1 - 1.0 if p1 > 0 else 0.0)
        flow = self.w_cum * np.tanh(d_cum / self.threshold) + self.w_vel * np.tanh(d_vel / self.threshold)
        close = frame.buf.close
        j = max(0, i - self.pa_lookback)
        r = frame.logret[max(1, i - SIGMA_WINDOWS * self.pa_lookback):i + 1]
        sd = float(np.nanstd(r)) if len(r) > 2 else 0.0
        z = float(np.log(close[i] / close[j]) / (sd * np.sqrt(max(i - j, 1)))) if sd > 0 else 0.0
        pa = float(np.tanh(z))
        total_change = (call_oi + put_oi) / (c0 + p0) - 1.0 if c0 + p0 > 0 else 0.0
        confirmed = not (self.confirm and pa * flow < 0)
        parts = [float(flow) if confirmed else 0.0]
        if self.skew_on:
            parts.append(-float(np.tanh((self._skew_s - s0) / self.skew_threshold)))
        score = float(np.mean(parts))
        diag: dict[str, Any] = {"oi_flow": float(flow), "price_action": pa, "confirmed": confirmed,
                                "pattern": pattern(pa, total_change, self.threshold),
                                "put_share": put_share}
        if self.buildup_on and self.mp_weight > 0:
            strike = np.asarray(chain.strike, dtype=float)[m]
            mp = max_pain(strike, view.call[m], oi[m])
            iv_atm = view.iv_at(view.expiries[0], float(chain.spot))
            if not np.isfinite(iv_atm):  # no IV at the money: scale by the price action's own volatility
                iv_atm = sd * np.sqrt(frame.tb.bars_per_year) if sd > 0 else 0.2
            scale = float(chain.spot) * iv_atm * np.sqrt(max(view.expiries[0], 0.5) / DAYS_PER_YEAR)
            mp_dir = float(np.tanh((mp - float(chain.spot)) / scale)) if scale > 0 else 0.0
            score = (1 - self.mp_weight) * score + self.mp_weight * mp_dir
            diag["max_pain"] = mp
        if self.sr_on:
            k = np.asarray(chain.strike, dtype=float)
            cm, pm = m & view.call, m & ~view.call
            diag["oi_resistance"] = float(k[cm][np.argmax(oi[cm])]) if cm.any() else float("nan")
            diag["oi_support"] = float(k[pm][np.argmax(oi[pm])]) if pm.any() else float("nan")
        if self.div_on:
            # divergence: flow and price point opposite ways and differ by more than twice the threshold
            self._div_count = self._div_count + 1 if abs(flow - pa) > 2 * self.div_threshold and flow * pa < 0 else 0
            diag["divergence"] = self._div_count >= self.div_bars
        diag["trending"] = abs(score) >= self.strength
        return ModuleResult(self.name, clip1(score), None, True, "", diag)
