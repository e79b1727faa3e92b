"""VolumeProfileAnalysis (IndicatorConfiguration parameters: profile_periods, poc_weight, value_area).

Profile of the last ``profile_periods`` bars at their typical prices: POC approximated by the
volume-weighted median, value area by the volume-weighted quantiles (1 -/+ value_area)/2.
Score = poc_weight * tanh((close - POC) / half value-area width)
      + (1 - poc_weight) * signed-volume imbalance (sum v*sign(r) / sum v).
A window without traded volume (ValidationRules adjust_volume_weight, VAL008 VolumeDataCheck, condition
volume_zero): with the rule enabled the module is inactive there, so its weight is renormalised away onto the
other active modules (the reason names the rule); with the rule disabled or absent it runs without that
protection: the window is profiled by time at price (every bar weight 1, a TPO profile), so the module keeps
its full weight with a score from prices alone (imbalance = mean sign of the window's returns).
"""
from __future__ import annotations

import numpy as np

from engine.market.types import OptionChain
from engine.params.paramset import ParamSet
from engine.regime.config import Validation
from engine.regime.modules.base import Frame, RegimeModule, clip1
from engine.regime.modules.chainutil import ChainView
from engine.regime.series import LONG_ROWS
from engine.regime.types import ModuleResult


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
    """Row-wise weighted quantiles of 2-D arrays (rows = windows); NaN where a row has no weight."""
    if values.shape[0] >= LONG_ROWS and values.shape[1] > 0 and np.isfinite(values).all() \
            and np.isfinite(weights).all():  # replays and rebuilds: the compiled loop, same values
        from engine.regime.batch.quantiles import weighted_quantiles as wq  # local import: numba, heavy
        return wq(np.ascontiguousarray(values, dtype=np.float64), np.ascontiguousarray(weights, dtype=np.float64),
                  np.asarray(qs, dtype=np.float64))
    order = np.argsort(values, axis=1, kind="stable")
    v = np.take_along_axis(values, order, axis=1)
    w = np.take_along_axis(weights, order, axis=1)
    cw = np.cumsum(w, axis=1)
    tot = cw[:, -1:]
    out = np.empty((values.shape[0], len(qs)))
    for j, q in enumerate(qs):
        k = np.argmax(cw >= q * tot, axis=1)
        out[:, j] = v[np.arange(len(v)), k]
    out[tot[:, 0] <= 0] = np.nan
    return out


class VolumeProfileModule(RegimeModule):
    name, component, column = "VolumeProfileAnalysis", "VolumeProfile", "volume_profile"

    def __init__(self, ps: ParamSet) -> None:
        super().__init__(ps)
        self.periods = int(self.need("profile_periods"))
        self.poc_weight = float(self.need("poc_weight"))
        self.value_area = float(self.need("value_area"))
        self.r: dict[int, tuple[float, float, float, float, float]] = {}
        v = Validation(ps)
        self.guard = v.enabled("adjust_volume_weight")  # VAL008: drop the module on zero-volume windows
        self.guard_tag = v.tag("adjust_volume_weight")
        self.tpo: set[int] = set()  # rows profiled by time at price (zero volume, rule off)
        self._tpo_mask: np.ndarray | None = None  # of profile()'s rows, set by its last call

    def prepare(self, frame: Frame) -> None:
        rows_, score, q, vsum = self.profile(frame)
        self.tpo = set(rows_[self._tpo_mask].tolist()) if self._tpo_mask is not None else set()
        self.r = {t: (sc, poc, val, vah, vs) for t, sc, poc, val, vah, vs in zip(
            rows_.tolist(), score.tolist(), q[:, 1].tolist(), q[:, 0].tolist(), q[:, 2].tolist(), vsum.tolist(),
            strict=True)}

    def profile(self, frame: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(rows of frame.rows with a full window, score, quantiles VAL/POC/VAH, window weight) as arrays;
        the batch replay reads these directly. The weight is the window's volume, or with VAL008 off the bar
        count on a window without volume (profiled by time at price, module docstring)."""
        self._tpo_mask = None
        b = frame.buf
        rows_ = frame.rows[frame.rows + 1 >= self.periods]
        if len(rows_) == 0:
            return rows_, np.zeros(0), np.zeros((0, 3)), np.zeros(0)
        s = int(rows_.min()) - self.periods + 1  # the first bar a window reaches: only bars s.. are read
        tp = (b.high[s:] + b.low[s:] + b.close[s:]) / 3.0
        vol = np.nan_to_num(b.volume[s:], nan=0.0)
        sgn = np.sign(np.nan_to_num(frame.logret[s:], nan=0.0))
        at = rows_ - s  # the rows' positions in those bars
        lo_q, hi_q = (1 - self.value_area) / 2, (1 + self.value_area) / 2
        if len(rows_) >= LONG_ROWS and self.periods <= 128 and np.isfinite(tp).all() and np.isfinite(vol).all():
            from engine.regime.batch.quantiles import window_profile  # local import: numba, heavy
            q, vsum, num = window_profile(tp, vol, sgn, at.astype(np.int64), self.periods,
                                          np.array([lo_q, 0.5, hi_q]))  # the same values, without 2-D copies
        else:
            win = at[:, None] + (np.arange(self.periods) - self.periods + 1)[None, :]
            q = weighted_quantiles(tp[win], vol[win], (lo_q, 0.5, hi_q))
            vsum = vol[win].sum(axis=1)
            num = (vol[win] * sgn[win]).sum(axis=1)
        if not self.guard:
            q, vsum, num = self._time_at_price(tp, sgn, at, q, vsum, num, lo_q, hi_q)
        with np.errstate(invalid="ignore", divide="ignore"):
            imb = num / vsum
            half = (q[:, 2] - q[:, 0]) / 2.0
            half = np.where(half > 0, half, np.abs(q[:, 1]) * 1e-4)
            pos = np.tanh((b.close[rows_] - q[:, 1]) / half)
        score = self.poc_weight * pos + (1 - self.poc_weight) * imb
        return rows_, score, q, vsum

    def _time_at_price(self, tp: np.ndarray, sgn: np.ndarray, at: np.ndarray, q: np.ndarray, vsum: np.ndarray,
                       num: np.ndarray, lo_q: float, hi_q: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The windows without volume profiled with every bar weighing 1 (VAL008 off: no protection)."""
        empty = ~(vsum > 0)
        if not empty.any():
            return q, vsum, num
        q, vsum, num = q.copy(), vsum.copy(), num.copy()
        win = at[empty][:, None] + (np.arange(self.periods) - self.periods + 1)[None, :]
        ones = np.ones(win.shape)
        q[empty] = weighted_quantiles(tp[win], ones, (lo_q, 0.5, hi_q))
        vsum[empty] = float(self.periods)
        num[empty] = sgn[win].sum(axis=1)
        self._tpo_mask = empty
        return q, vsum, num

    def step(self, i: int, chain: OptionChain | ChainView | None, frame: Frame) -> ModuleResult:
        got = self.r.get(i)
        if got is None:
            return ModuleResult.inactive(self.name, f"warming up: needs {self.periods} bars")
        score, poc, val, vah, vsum = got
        if not vsum > 0 or not np.isfinite(score):
            return ModuleResult.inactive(self.name, "no traded volume in the profile window: volume weight "
                                                    f"redistributed{self.guard_tag}")
        close = float(frame.buf.close[i])
        balanced = val <= close <= vah
        diag = {"poc": poc, "value_area_low": val, "value_area_high": vah,
                "volume_profile": "balanced" if balanced else ("above_value" if close > vah else "below_value")}
        if i in self.tpo:
            diag["profile"] = "time_at_price"  # no volume in the window and VAL008 off
        return ModuleResult(self.name, clip1(score), None, True, "", diag)
