"""GreekSentimentAnalysis (GreekSentimentConfig): OI-weighted Greeks around ATM against a session baseline.

Per snapshot, over strikes within ``strike_range`` of ATM (weights OI x otm_weight_decay^distance,
x near_expiry_adjustment on the nearest expiry, outliers beyond ``outlier_threshold`` sigma dropped):
net delta = sum w*delta / sum w*|delta|, and call-minus-put shares of gamma, vega and |theta|, each
in [-1, 1]; the level L is their weighted mix (delta/gamma/vega/theta weights). Score = smoothed
tanh of L's z-move from the session baseline (mean of the session's first ``sentiment_lookback``
snapshots; z against L's spread over the last ``sentiment_lookback`` snapshots).

Greeks missing (ValidationRules disable_greek_sentiment, VAL007 GreekDataCheck: a chain whose delta, gamma, vega
or theta column has no finite value at all): with the rule enabled the module is excluded for that snapshot
(inactive, weight 0, the others renormalised; the reason names the rule) and its baseline is not fed; with the
rule disabled or absent it runs without that protection: the missing Greeks read as 0 (nan_to_num), so the
level is computed from what is left (all zero when delta is missing) and scored against the baseline as usual.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from engine.market.types import OptionChain
from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.regime.config import Validation
from engine.regime.modules.base import Frame, RegimeModule, clip1
from engine.regime.modules.chainutil import ChainView, higher_greeks
from engine.regime.types import ModuleResult


class GreekSentimentModule(RegimeModule):
    name, component, column = "GreekSentimentAnalysis", "GreekSentiment", "greek_sentiment"

    def __init__(self, ps: ParamSet) -> None:
        super().__init__(ps)
        c = Parameters(ps).greek_sentiment_config
        w = np.array([c.delta_weight, c.gamma_weight, c.vega_weight, c.theta_weight], dtype=float)
        self.w = w / w.sum() if w.sum() > 0 else w
        self.flags = {"vanna": bool(c.enable_vanna), "charm": bool(c.enable_charm), "volga": bool(c.enable_volga),
                      "veta": bool(c.enable_veta), "speed": bool(c.enable_speed)}
        self.lookback = int(c.sentiment_lookback)
        self.smoothing = float(c.sentiment_smoothing)
        self.outlier = float(c.outlier_threshold)
        self.strike_range = float(c.strike_range)
        self.decay = float(c.otm_weight_decay)
        self.near_adj = float(c.near_expiry_adjustment)
        self.bull = float(c.bullish_threshold)
        self.bear = float(c.bearish_threshold)
        self.extreme = float(c.extreme_sentiment)
        self._day: int | None = None
        self._base: list[float] = []
        self._hist: deque[float] = deque(maxlen=self.lookback)
        self._s = 0.0
        v = Validation(ps)
        self.guard = v.enabled("disable_greek_sentiment")  # VAL007: exclude the module when Greeks are missing
        self.guard_tag = v.tag("disable_greek_sentiment")

    def level(self, view: ChainView) -> tuple[float, dict[str, float]]:
        """The composite Greek level L of one snapshot (pure function of the chain)."""
        c = view.chain
        off = np.abs(view.strike_offset())
        m = off <= self.strike_range
        oi = np.asarray(c.open_interest, dtype=float)
        if not np.nansum(oi[m]) > 0:
            oi = np.asarray(c.volume, dtype=float)
        w = np.where(m, np.nan_to_num(oi) * self.decay ** off, 0.0)
        w = np.where(view.near, w * self.near_adj, w)
        g = np.nan_to_num(np.vstack([c.delta, c.gamma, c.vega, c.theta]).astype(float))
        x = g * w
        if m.sum() > 1:
            xm = x[:, m]
            sd = xm.std(axis=1, keepdims=True)
            dev = np.abs(x - xm.mean(axis=1, keepdims=True))
            keep = ((dev <= self.outlier * sd) | (sd <= 0)).all(axis=0)
            w = np.where(keep, w, 0.0)
        a = w * np.abs(g)
        tot = a.sum(axis=1)
        calls = a[:, view.call].sum(axis=1)
        share = np.where(tot > 0, (2.0 * calls - tot) / np.where(tot > 0, tot, 1.0), 0.0)
        comps = {
            "net_delta": float((w * g[0]).sum() / tot[0]) if tot[0] > 0 else 0.0,
            "gamma_share": float(share[1]),
            "vega_share": float(share[2]),
            "theta_share": float(share[3]),
        }
        lvl = float(np.dot(self.w, list(comps.values())))
        if any(self.flags.values()) and w.sum() > 0:
            hg = higher_greeks(float(c.spot), np.asarray(c.strike, float), view.years(),
                               np.nan_to_num(np.asarray(c.iv, float), nan=0.2))
            for k, arr in hg.items():
                if self.flags[k]:
                    sign = np.where(view.call, 1.0, -1.0)
                    comps[k] = float(np.nansum(w * arr * sign) / w.sum())
        return lvl, comps

    def step(self, i: int, chain: OptionChain | ChainView | None, frame: Frame) -> ModuleResult:
        view = ChainView.of(chain)
        if view is None:
            return self.no_chain()
        chain = view.chain
        missing = missing_greeks(chain)
        if missing and self.guard:
            return ModuleResult.inactive(self.name, f"Greeks missing from the option chain ({', '.join(missing)}): "
                                         f"module excluded, weight redistributed{self.guard_tag}",
                                         greeks_missing=", ".join(missing))
        lvl, comps = self.level(view)
        day = int(frame.day[i])
        if day != self._day:
            self._day, self._base = day, []
        if len(self._base) < self.lookback:
            self._base.append(lvl)
        self._hist.append(lvl)
        base = float(np.mean(self._base))
        spread = float(np.std(self._hist)) if len(self._hist) > 2 else 0.0
        z = (lvl - base) / spread if spread > 1e-12 else 0.0
        self._s = (1.0 - self.smoothing) * float(np.tanh(z)) + self.smoothing * self._s
        s = clip1(self._s)
        label = ("extreme_" if abs(s) >= self.extreme else "") + (
            "bullish" if s >= self.bull else "bearish" if s <= self.bear else "neutral")
        diag = {"level": lvl, "baseline": base, "z": z, "sentiment": label, **comps}
        if missing:
            diag["greeks_missing"] = ", ".join(missing)  # the rule is off: read as 0
        return ModuleResult(self.name, s, None, True, "", diag)


GREEK_COLUMNS = ("delta", "gamma", "vega", "theta")


def missing_greeks(chain: OptionChain) -> list[str]:
    """The Greek columns of the chain with no finite value at all (what VAL007's greeks_missing means)."""
    return [g for g in GREEK_COLUMNS if not np.isfinite(np.asarray(getattr(chain, g), dtype=float)).any()]
