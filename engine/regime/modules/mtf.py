"""MultiTimeframeAnalysis (MultiTimeframeConfig): per-timeframe trend, weighted voting consensus.

Each timeframe row gives a window in its own bars; on base bars that is window x (timeframe minutes /
bar minutes) bars (at least 1x: on daily data every timeframe collapses onto the daily bar). Per
timeframe: OLS slope of log price (TA-Lib LINEARREG_SLOPE) and its t-like z = slope*n / (sigma*sqrt(n)).
Score: weighted mean of tanh(z) over the timeframes with enough bars, x (1 - divergence_penalty) when
the vote consensus is below consensus_threshold or the timeframes' directions spread more than
StabilityConfiguration timeframe_divergence_limit, x trend_alignment_bonus when every voting timeframe
agrees and at least min_agreeing_timeframes vote. StabilityConfiguration consensus_threshold decides
whether the module counts as a confirming signal for a transition (diagnostic ``consensus_ok``).
Also exposes ``slope_ref``: the weighted slope in log-price per bar of the longest configured
timeframe (per bar on data coarser than that, e.g. per day on daily bars): the trend component
formation compares with the RegimeClassification trend thresholds.
"""
from __future__ import annotations

import math
import re
import warnings

import numpy as np
import talib

from engine.market.types import OptionChain
from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.regime.modules import mtf_sums
from engine.regime.modules.base import Frame, RegimeModule, clip1
from engine.regime.modules.chainutil import ChainView
from engine.regime.series import LONG_ROWS
from engine.regime.types import ModuleResult


def timeframe_minutes(label: str, update_freq: float) -> float:
    """'15min' -> 15; '1h' -> 60; falls back to the UpdateFreq column (minutes)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(min|m|h|hour|d|day)?\s*", str(label), re.IGNORECASE)
    if not m:
        return float(update_freq)
    unit = (m.group(2) or "min").lower()
    return float(m.group(1)) * {"min": 1, "m": 1, "h": 60, "hour": 60, "d": 1440, "day": 1440}[unit]


class MultiTimeframeModule(RegimeModule):
    name, component, column = "MultiTimeframeAnalysis", "MultiTimeframe", "multi_timeframe"

    def __init__(self, ps: ParamSet) -> None:
        super().__init__(ps)
        self.frames = [(str(r.timeframe), timeframe_minutes(r.timeframe, r.update_freq), float(r.weight),
                        int(r.window), float(r.min_consensus), int(r.required_bars))
                       for r in Parameters(ps).multi_timeframe_config.rows]
        c = Parameters(ps).multi_timeframe_config
        self.method = str(c.consensus_method)
        self.min_tf = int(c.min_timeframes_required)
        self.threshold = float(c.consensus_threshold)
        self.penalty = float(c.divergence_penalty)
        self.bonus = float(c.trend_alignment_bonus)
        st = Parameters(ps).stability_configuration  # the cross-timeframe agreement limits live there
        self.min_agree = int(st.min_agreeing_timeframes)
        self.divergence_limit = float(st.timeframe_divergence_limit)
        self.signal_consensus = float(st.consensus_threshold)
        self.ref_minutes = max((f[1] for f in self.frames), default=60.0)
        self.arrays: dict[str, np.ndarray] = {}  # per emitted row (the batch replay reads these)
        self._lists: dict[str, list[float]] | None = {}
        self.off = 0

    def prepare(self, frame: Frame) -> None:
        """TA-Lib over the whole buffer; the per-row combination only for the rows being emitted."""
        c = frame.buf.close
        n = len(c)
        logc = np.log(c)
        tb = frame.tb
        rows_ = frame.rows
        self.off = int(rows_[0]) if len(rows_) else n
        m = len(rows_)
        wsum, dsum, ssum, vote, count, agree_up, agree_dn = (np.zeros(m) for _ in range(7))
        per_tf: dict[str, np.ndarray] = {}
        ref_bars = max(1.0, self.ref_minutes / tb.bar_minutes) if tb.intraday else 1.0
        rows64 = np.ascontiguousarray(rows_, dtype=np.int64)
        tail = m > 0 and int(rows_[-1]) == n - 1 and n - self.off == m  # increasing rows: a slice, no gather
        take = slice(self.off, n) if tail else rows_
        for label, minutes, w, window, min_cons, required in self.frames:
            mult = max(1, round(minutes / tb.bar_minutes)) if tb.intraday else 1
            nb = max(3, window * mult)
            if n < nb or m == 0:
                continue
            slope = talib.LINEARREG_SLOPE(logc, timeperiod=nb)[take]
            sd = talib.STDDEV(frame.logret, timeperiod=nb, nbdev=1.0)[take]
            with np.errstate(invalid="ignore", divide="ignore"):
                d = np.tanh(slope * nb / (sd * np.sqrt(nb)))
            sums = (wsum, dsum, ssum, vote, count, agree_up, agree_dn)
            if m >= LONG_ROWS:  # replays and rebuilds: the same function, compiled
                from engine.regime.batch.vote import add_timeframe  # local import: numba, heavy
                per_tf[label] = add_timeframe(d, slope, sd, rows64, required * mult, w, min_cons, ref_bars, *sums)
            else:  # the live path's new bars: plain Python (numpy's per-call cost would dominate)
                per_tf[label] = mtf_sums.add_timeframe(d, slope, sd, rows64, required * mult, w, min_cons, ref_bars,
                                                       *sums)
        with np.errstate(invalid="ignore", divide="ignore"):
            direction = dsum / wsum
            consensus = vote / wsum
            slope_day = ssum / wsum
        aligned = (((agree_up == count) | (agree_dn == count)) & (count >= self.min_tf)
                   & (np.maximum(agree_up, agree_dn) >= self.min_agree))
        if per_tf and m >= LONG_ROWS:  # the same floats compiled, without nanstd's copies
            # local import: numba, heavy (only replays and rebuilds reach it)
            from engine.regime.batch.vote import column_nanstd
            spread = column_nanstd(np.vstack(list(per_tf.values())))
        elif per_tf:
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                spread = np.nanstd(np.vstack(list(per_tf.values())), axis=0)
        else:
            spread = np.zeros(m)
        penal = (np.abs(consensus) < self.threshold) | (spread > self.divergence_limit)
        direction = np.where(penal, direction * (1.0 - self.penalty), direction)
        direction = np.where(aligned & ~penal, direction * self.bonus, direction)
        self.arrays = dict(direction=np.clip(direction, -1.0, 1.0), consensus=consensus, slope_day=slope_day,
                           spread=spread, count=count, **{f"tf_{k}": v for k, v in per_tf.items()})
        self._lists = None

    @property
    def a(self) -> dict[str, list[float]]:
        """The arrays as lists (fast scalar reads in step), built on first use."""
        if self._lists is None:
            self._lists = {k: v.tolist() for k, v in self.arrays.items()}
        return self._lists

    def slope_ref(self, i: int) -> float:
        v = self.a.get("slope_day")
        k = i - self.off
        return v[k] if v is not None and 0 <= k < len(v) and math.isfinite(v[k]) else float("nan")

    def step(self, i: int, chain: OptionChain | ChainView | None, frame: Frame) -> ModuleResult:
        a = self.a
        i -= self.off  # arrays hold the emitted rows only
        cnt = int(a["count"][i]) if "count" in a else 0
        if cnt < self.min_tf or not math.isfinite(a["direction"][i]):
            return ModuleResult.inactive(self.name, f"only {cnt} timeframe(s) have enough bars; "
                                                    f"min_timeframes_required={self.min_tf}")
        diag = {"consensus": a["consensus"][i], "slope_ref": a["slope_day"][i],
                "timeframes": cnt, "divergence": a["spread"][i],
                "consensus_ok": abs(a["consensus"][i]) >= self.signal_consensus}
        diag.update({k: v[i] for k, v in a.items() if k.startswith("tf_")})
        return ModuleResult(self.name, clip1(a["direction"][i]), None, True, "", diag)
