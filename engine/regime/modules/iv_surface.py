"""IVSurfaceAnalysis (IVSurfaceConfig): skew, term structure, IV percentile and smile of the chain.

Per snapshot: ATM IV per expiry (first ``surface_expiry_points``); skew at spot*(1 +/- skew_strike_distance)
on the nearest expiry (RISK_REVERSAL: call IV up - put IV down; SIMPLE: IV up - IV down; BUTTERFLY:
wings minus ATM), relative to ATM IV, smoothed over ``skew_smoothing_window`` snapshots; term slope
(far - near)/near against contango/backwardation thresholds; ATM IV percentile over the last
``iv_percentile_period`` snapshots; smile: quadratic fit of IV on log-moneyness over
``surface_strike_points`` strikes (curvature, asymmetry).
Score = (1 - term_structure_weight) * skew direction (skew change vs its recent mean, steeper put
skew = bearish) + term_structure_weight * term direction (+1 contango, -1 backwardation), blended
with the smile asymmetry (smile_curvature_weight), plus the high/low-IV adjustments. Vol: ATM IV of the
nearest expiry.
Abnormal IV (ValidationRules cap_iv_contribution, VAL009 IVDataCheck): ATM IV more than N sigma from the mean
of its last ``iv_percentile_period`` snapshots, N from the condition (iv_abnormal>3) or, for a bare iv_abnormal,
IVSurfaceConfig ``abnormal_surface_threshold``. With the rule enabled an abnormal snapshot's score is capped at
+/-ABNORMAL_CAP (diagnostics ``validation`` says so); with the rule disabled or absent the score is not capped
(``abnormal_surface`` is still reported against abnormal_surface_threshold).
"""
from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from engine.market.types import OptionChain
from engine.params.grammar import sigma_threshold
from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.regime.config import Validation
from engine.regime.modules.base import Frame, RegimeModule, clip1
from engine.regime.modules.chainutil import ChainView
from engine.regime.types import ModuleResult

HIGH_IV_PERCENTILE, LOW_IV_PERCENTILE = 80.0, 20.0  # where the high/low-IV sentiment adjustments apply
ABNORMAL_CAP = 0.5  # |score| cap while the surface is abnormal


class IVSurfaceModule(RegimeModule):
    name, component, column = "IVSurfaceAnalysis", "IVSurface", "iv_surface"

    def __init__(self, ps: ParamSet) -> None:
        super().__init__(ps)
        c = Parameters(ps).iv_surface_config
        self.n_strikes = int(c.surface_strike_points)
        self.n_expiries = int(c.surface_expiry_points)
        self.interp = str(c.interpolation_method).upper()
        self.skew_measure = str(c.skew_measure).upper()
        self.skew_dist = float(c.skew_strike_distance)
        self.term_w = float(c.term_structure_weight)
        self.contango = float(c.contango_threshold)
        self.backwardation = float(c.backwardation_threshold)
        self.velocity_on = bool(c.track_surface_velocity)
        self.abnormal = float(c.abnormal_surface_threshold)
        v = Validation(ps)
        self.cap_on = v.enabled("cap_iv_contribution")  # VAL009: cap the score while IV is abnormal
        self.cap_sigma = v.number("cap_iv_contribution", sigma_threshold) or self.abnormal
        self.cap_tag = v.tag("cap_iv_contribution")
        self.high_adj = float(c.high_iv_sentiment_adjust)
        self.low_adj = float(c.low_iv_sentiment_adjust)
        self.smile_on = bool(c.analyze_volatility_smile)
        self.smile_w = float(c.smile_curvature_weight)
        self.asym_threshold = float(c.smile_asymmetry_threshold)
        self._skews: deque[float] = deque(maxlen=int(c.skew_smoothing_window))
        self._skew_ref: deque[float] = deque(maxlen=int(c.surface_momentum_period))
        self._atm_hist: deque[float] = deque(maxlen=int(c.iv_percentile_period))

    def skew(self, view: ChainView, atm_iv: float) -> float:
        e, s = float(view.expiries[0]), float(view.chain.spot)
        up, dn = s * (1 + self.skew_dist), s * (1 - self.skew_dist)
        if self.skew_measure == "RISK_REVERSAL":
            raw = view.iv_at(e, up, True, self.interp) - view.iv_at(e, dn, False, self.interp)
        elif self.skew_measure == "BUTTERFLY":
            raw = 0.5 * (view.iv_at(e, up, None, self.interp) + view.iv_at(e, dn, None, self.interp)) - atm_iv
        else:
            raw = view.iv_at(e, up, None, self.interp) - view.iv_at(e, dn, None, self.interp)
        return raw / atm_iv if atm_iv > 0 else float("nan")

    def smile(self, view: ChainView, atm_iv: float) -> tuple[float, float]:
        c = view.chain
        m = view.near & (np.abs(view.strike_offset()) <= self.n_strikes // 2) & np.isfinite(c.iv)
        otm = np.where(view.call, np.asarray(c.strike) >= c.spot, np.asarray(c.strike) <= c.spot)
        m &= otm
        if m.sum() < 3:
            return float("nan"), float("nan")
        x = np.log(np.asarray(c.strike, float)[m] / c.spot)
        y = np.asarray(c.iv, float)[m] / atm_iv
        if np.ptp(x) <= 0:
            return float("nan"), float("nan")
        a2, a1, _ = np.polyfit(x / max(np.ptp(x), 1e-9), y, 2)
        return float(a2), float(a1)

    def step(self, i: int, chain: OptionChain | ChainView | None, frame: Frame) -> ModuleResult:
        view = ChainView.of(chain)
        if view is None or not np.isfinite(np.asarray(view.chain.iv, dtype=float)).any():
            return self.no_chain()
        chain = view.chain
        s = float(chain.spot)
        exps = view.expiries[: self.n_expiries]
        atms = [view.iv_at(float(e), s, None, self.interp) for e in exps]
        atm = atms[0]
        if not np.isfinite(atm) or atm <= 0:
            return ModuleResult.inactive(self.name, "no implied vol at the money on the nearest expiry")
        sk = self.skew(view, atm)
        if np.isfinite(sk):
            self._skews.append(sk)
        sk_s = float(np.mean(self._skews)) if self._skews else 0.0
        ref = float(np.mean(self._skew_ref)) if self._skew_ref else sk_s
        self._skew_ref.append(sk_s)
        skew_dir = float(np.tanh((sk_s - ref) / self.asym_threshold))
        far = next((a for a in reversed(atms) if np.isfinite(a)), atm)
        term = (far - atm) / atm if len(atms) > 1 else 0.0
        term_dir = 1.0 if term >= self.contango else -1.0 if term <= self.backwardation else term / self.contango
        score = (1 - self.term_w) * skew_dir + self.term_w * clip1(term_dir)
        curv = asym = float("nan")
        if self.smile_on:
            curv, asym = self.smile(view, atm)
            if np.isfinite(asym):
                score = (1 - self.smile_w) * score + self.smile_w * float(np.tanh(asym / self.asym_threshold))
        hist = np.array(self._atm_hist) if self._atm_hist else np.array([atm])
        pct = float(100.0 * (hist <= atm).mean())
        sd = float(hist.std()) if len(hist) > 2 else 0.0
        z = (atm - float(hist.mean())) / sd if sd > 0 else 0.0
        self._atm_hist.append(atm)
        if pct >= HIGH_IV_PERCENTILE:
            score += self.high_adj
        elif pct <= LOW_IV_PERCENTILE:
            score += self.low_adj
        abnormal = abs(z) > self.abnormal
        score = clip1(score)
        capped = ""
        if self.cap_on and abs(z) > self.cap_sigma:
            capped = (f"IV abnormal (z {z:+.2f} beyond {self.cap_sigma:g} sigma): score {score:+.3f} limited to "
                      f"+/-{ABNORMAL_CAP:g}{self.cap_tag}")
            score = max(-ABNORMAL_CAP, min(ABNORMAL_CAP, score))
        diag: dict[str, Any] = {"atm_iv": atm, "skew": sk, "skew_smoothed": sk_s, "term_slope": term,
                                "term_state": "contango" if term >= self.contango else
                                "backwardation" if term <= self.backwardation else "flat",
                                "iv_percentile": pct, "iv_zscore": z, "abnormal_surface": abnormal,
                                "smile_curvature": curv, "smile_asymmetry": asym}
        if capped:
            diag["validation"] = capped
        if self.velocity_on and len(hist) > 1:
            diag["atm_iv_velocity"] = atm - float(hist[0])
        return ModuleResult(self.name, score, atm, True, "", diag)
