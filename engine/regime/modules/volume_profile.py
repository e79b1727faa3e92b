"""VolumeProfileAnalysis (IndicatorConfiguration parameters: profile_periods, poc_weight, value_area).

Profile of the last ``profile_periods`` bars at their typical prices: POC approximated by the
volume-weighted median, value area by the volume-weighted quantiles (1 -/+ value_area)/2.
Score = poc_weight * tanh((close - POC) / half value-area width)
      + (1 - poc_weight) * signed-volume imbalance (sum v*sign(r) / sum v).
Inactive when the window has no volume (ValidationRules VolumeDataCheck).
"""
from __future__ import annotations

import numpy as np

from engine.market.types import OptionChain
from engine.params.paramset import ParamSet
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

    def prepare(self, frame: Frame) -> None:
        rows_, score, q, vsum = self.profile(frame)
        self.r = {t: (sc, poc, val, vah, vs) for t, sc, poc, val, vah, vs in zip(
            rows_.tolist(), score.tolist(), q[:, 1].tolist(), q[:, 0].tolist(), q[:, 2].tolist(), vsum.tolist(),
            strict=True)}

    def profile(self, frame: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(rows of frame.rows with a full window, score, quantiles VAL/POC/VAH, window volume) as arrays;
        the batch replay reads these directly."""
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
        with np.errstate(invalid="ignore", divide="ignore"):
            imb = num / vsum
            half = (q[:, 2] - q[:, 0]) / 2.0
            half = np.where(half > 0, half, np.abs(q[:, 1]) * 1e-4)
            pos = np.tanh((b.close[rows_] - q[:, 1]) / half)
        score = self.poc_weight * pos + (1 - self.poc_weight) * imb
        return rows_, score, q, vsum

    def step(self, i: int, chain: OptionChain | ChainView | None, frame: Frame) -> ModuleResult:
        got = self.r.get(i)
        if got is None:
            return ModuleResult.inactive(self.name, f"warming up: needs {self.periods} bars")
        score, poc, val, vah, vsum = got
        if not vsum > 0 or not np.isfinite(score):
            return ModuleResult.inactive(self.name, "no traded volume in the profile window "
                                                    "(VolumeDataCheck: volume weight redistributed)")
        close = float(frame.buf.close[i])
        balanced = val <= close <= vah
        return ModuleResult(self.name, clip1(score), None, True, "", {
            "poc": poc, "value_area_low": val, "value_area_high": vah,
            "volume_profile": "balanced" if balanced else ("above_value" if close > vah else "below_value")})
