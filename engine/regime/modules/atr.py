"""ATRBasedIndicators (ATRIndicatorsConfig): ATR with the configured smoothing, ATR bands, squeeze,
expansion/contraction, ATR percentile, RSI/ADX composites.

Score: position of the close inside the ATR bands (+1 at the upper band), blended with RSI and
scaled by ADX strength when the composites are on. Vol: annualised volatility implied by the ATR
(ATR% / sqrt(8/pi) per bar, times sqrt(bars per year)); when the market source provides an implied-volatility
index (VIX / INDIA VIX, engine/regime/vol_index.py) no older than ValidationRules StaleDataCheck, blended
with it as composite_weight_atr x ATR vol + (1 - composite_weight_atr) x index / 100 (the chain's ATM IV is
blended the same way afterwards, in the classifier). Details say whether the index was used, and why not.
"""
from __future__ import annotations

import math

import numpy as np
import talib

from engine.market.types import OptionChain
from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.regime.config import Validation
from engine.regime.modules.base import Frame, RegimeModule, clip1
from engine.regime.modules.chainutil import ChainView
from engine.regime.paramtext import minutes_threshold
from engine.regime.series import BROWNIAN_RANGE, rolling_rank_pct
from engine.regime.types import ModuleResult

ATR_PERCENTILE_LOOKBACK = 252  # bars; the workbook has no ATR-percentile window (asked for in the report)
ADX_FULL_STRENGTH = 50.0  # ADX at which the ADX composite gives full weight to the direction


def smoothed_atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int, smoothing: str,
                 use_true_range: bool) -> np.ndarray:
    """ATR = moving average (SMA/EMA/WMA, TA-Lib) of the true range (or of high-low)."""
    tr = talib.TRANGE(high, low, close) if use_true_range else high - low
    fn = {"SMA": talib.SMA, "EMA": talib.EMA, "WMA": talib.WMA}.get(str(smoothing).upper())
    if fn is None:
        raise ValueError(f"ATRIndicatorsConfig atr_smoothing={smoothing!r} is not one of SMA, EMA, WMA; fix the workbook")
    return fn(tr, timeperiod=period)


class ATRModule(RegimeModule):
    name, component, column = "ATRBasedIndicators", "ATRIndicators", "atr_indicators"

    def __init__(self, ps: ParamSet) -> None:
        super().__init__(ps)
        c = Parameters(ps).atr_indicators_config
        self.period = int(c.atr_period)
        self.smoothing = str(c.atr_smoothing)
        self.use_true_range = bool(c.use_true_range)
        self.bands = bool(c.atr_bands_enabled)
        self.up_mult = float(c.upper_band_multiplier)
        self.lo_mult = float(c.lower_band_multiplier)
        self.shift = float(c.band_shift_percent)
        self.squeeze_on = bool(c.detect_volatility_squeeze)
        self.squeeze_lookback = int(c.squeeze_lookback)
        self.squeeze_threshold = float(c.squeeze_threshold)
        self.momentum_on = bool(c.track_atr_momentum)
        self.momentum_period = int(c.atr_momentum_period)
        self.expansion = float(c.expansion_threshold)
        self.contraction = float(c.contraction_threshold)
        self.boundaries = bool(c.atr_regime_boundaries)
        self.low_pct = float(c.low_vol_atr_percentile)
        self.high_pct = float(c.high_vol_atr_percentile)
        self.rsi_comp = bool(c.atr_rsi_composite)
        self.adx_comp = bool(c.atr_adx_composite)
        self.cw = float(c.composite_weight_atr)
        stale = Validation(ps).condition("use_cached_regime")  # StaleDataCheck: the chain's limit, for the index too
        self.stale_minutes = minutes_threshold(stale) if stale else None
        self.a: dict[str, np.ndarray] = {}
        self.has_index = False

    def prepare(self, frame: Frame) -> None:
        """The recursive TA-Lib series over the whole buffer (their values depend on its first bar); every
        element-wise reading only over the rows from frame.rows[0] on (the rows read: about half a replay
        chunk, one bar live), so ``a`` holds those rows (a[k][j] is bar off + j)."""
        b = frame.buf
        h, lo, c = b.high, b.low, b.close
        n = len(c)
        off = self.off = int(frame.rows[0]) if len(frame.rows) else n
        atr = smoothed_atr(h, lo, c, self.period, self.smoothing, self.use_true_range)
        ema = talib.EMA(c, timeperiod=self.period)
        adx = talib.ADX(h, lo, c, timeperiod=self.period)[off:]
        rsi = talib.RSI(c, timeperiod=self.period)[off:]
        bb_up, _, bb_lo = talib.BBANDS(c, timeperiod=self.squeeze_lookback, nbdevup=self.up_mult,
                                       nbdevdn=self.lo_mult, matype=talib.MA_Type.SMA)
        with np.errstate(invalid="ignore", divide="ignore"):
            atr_pct_all = atr / c  # the percentile's lookback reaches before off
        at, atr_pct = atr[off:], atr_pct_all[off:]
        s = max(0, min(off, off - self.squeeze_lookback + 1))  # the first bar the rows' in-range windows reach
        with np.errstate(invalid="ignore", divide="ignore"):
            dist_s = c[s:] - ema[s:] * (1.0 + self.shift)
            dist = dist_s[off - s:]
            pos = np.where(dist >= 0, dist / (self.up_mult * at), dist / (self.lo_mult * at))
        pos = np.clip(pos, -1.0, 1.0) if self.bands else np.clip(dist / at, -1.0, 1.0)
        rsi = np.where(_flat(c, self.period + 1, off), 50.0, rsi)  # TA-Lib says 0 when nothing moved: neutral
        direction = pos.copy()
        if self.rsi_comp:
            direction = self.cw * pos + (1.0 - self.cw) * (rsi - 50.0) / 50.0
        if self.adx_comp:
            direction = direction * (self.cw + (1.0 - self.cw) * np.clip(adx / ADX_FULL_STRENGTH, 0.0, 1.0))
        with np.errstate(invalid="ignore"):
            squeeze = (bb_up[off:] - bb_lo[off:]) < self.squeeze_threshold * (self.up_mult + self.lo_mult) * at
            momentum = at / lag(atr, self.momentum_period, off) if n > self.momentum_period \
                else np.full(n - off, np.nan)
        in_range = self._in_range(dist_s, atr[s:], s, n)
        vol_atr = atr_pct / BROWNIAN_RANGE * np.sqrt(frame.tb.bars_per_year)
        self.has_index = frame.vol_index is not None
        vix, vix_age = (frame.vol_index[0][off:], frame.vol_index[1][off:]) if frame.vol_index is not None \
            else (np.full(n - off, np.nan),) * 2
        with np.errstate(invalid="ignore"):
            fresh = np.isfinite(vix) & ((vix_age <= self.stale_minutes) if self.stale_minutes is not None else True)
        vol = np.where(fresh, self.cw * vol_atr + (1.0 - self.cw) * vix / 100.0, vol_atr)
        pct = rolling_rank_pct(atr_pct_all, ATR_PERCENTILE_LOOKBACK, frame.rows)
        if len(pct) != n - off:  # rows with gaps: NaN between them, as before
            pct, got = np.full(n - off, np.nan), pct
            pct[frame.rows - off] = got
        self.a = dict(atr=at, atr_pct=atr_pct, adx=adx, rsi=rsi, direction=direction, squeeze=squeeze,
                      momentum=momentum, vol=vol, pct=pct, in_range=in_range, vol_atr=vol_atr, vix=vix,
                      vix_age=vix_age, vix_used=fresh.astype(np.float64))
        self._lists: dict[str, list[float]] | None = None  # built on the first scalar read (the batch replay reads a)

    def _in_range(self, dist: np.ndarray, atr: np.ndarray, s: int, n: int) -> np.ndarray:
        """Share of the last squeeze_lookback bars whose close sat inside the ATR bands, for the rows from
        self.off on (dist, atr: bars s.. n-1). The 0/1 flags sum to whole numbers, so a window count off a
        cumulative sum is exactly TA-Lib SMA's running total (count / lookback, the same division)."""
        off, w = self.off, self.squeeze_lookback
        if n < w or w < 1:
            return np.full(n - off, np.nan)
        with np.errstate(invalid="ignore"):
            inside = (np.abs(dist) <= np.maximum(self.up_mult, self.lo_mult) * atr).astype(np.float64)
        total = np.zeros(len(inside) + 1)
        np.cumsum(inside, out=total[1:])
        out = np.full(n - off, np.nan)
        first = max(off, w - 1)  # the first row with a whole window (TA-Lib: NaN before it)
        k = first - s + 1  # row t's window count: total[t - s + 1] - total[t - s + 1 - w]
        if first < n:
            out[first - off:] = (total[k:n - s + 1] - total[k - w:n - s + 1 - w]) / w
        return out

    @property
    def lists(self) -> dict[str, list[float]]:
        """The rows from frame.rows on as lists: fast scalar access per row (step, at)."""
        if self._lists is None:
            self._lists = {k: v.tolist() for k, v in self.a.items()}
        return self._lists

    def at(self, key: str, i: int) -> float:
        return self.lists[key][i - self.off]

    def vol_class_code(self, pct: float) -> int:
        """0/1/2 from the ATR percentile boundaries (the workbook's 'ATR percentile' vol reading)."""
        if not math.isfinite(pct):
            return 1
        return 0 if pct < self.low_pct else 2 if pct > self.high_pct else 1

    def step(self, i: int, chain: OptionChain | ChainView | None, frame: Frame) -> ModuleResult:
        a, k = self.lists, i - self.off
        atr, direction = a["atr"][k], a["direction"][k]
        if not (math.isfinite(atr) and math.isfinite(direction)):
            return ModuleResult.inactive(self.name, f"warming up: ATR needs {self.period}+ bars")
        mom = a["momentum"][k]
        state = "expansion" if self.momentum_on and mom > self.expansion else \
            "contraction" if self.momentum_on and mom < self.contraction else "steady"
        pct = a["pct"][k]
        return ModuleResult(self.name, clip1(direction), a["vol"][k], True, "", {
            "atr": atr, "atr_pct": a["atr_pct"][k], "adx": a["adx"][k], "rsi": a["rsi"][k],
            "squeeze": bool(self.squeeze_on and a["squeeze"][k]), "atr_momentum": mom, "atr_state": state,
            "atr_percentile": pct, "atr_vol_class_code": self.vol_class_code(pct) if self.boundaries else -1,
            "price_in_range": a["in_range"][k], "vol_atr": a["vol_atr"][k], **self._index_details(k),
        })

    def _index_details(self, k: int) -> dict[str, object]:
        """The implied-volatility index at row k: its value, whether V used it, and why not."""
        a = self.lists
        vix, age = a["vix"][k], a["vix_age"][k]
        if a["vix_used"][k]:
            note = ""
        elif not self.has_index:
            note = "no implied-volatility index from the market source"
        elif not math.isfinite(vix):
            note = "no implied-volatility index point yet"
        else:
            note = f"implied-volatility index stale ({age:.0f} min old)"
        return {"vix": vix if math.isfinite(vix) else None, "vix_age_minutes": age if math.isfinite(age) else None,
                "vix_used": bool(a["vix_used"][k]), "vix_note": note}


def _flat(c: np.ndarray, window: int, off: int) -> np.ndarray:
    """Per row from off on: did the close stay unchanged over the last ``window`` bars (TA-Lib MAX - MIN == 0,
    over only the bars those rows reach: a window's max and min do not depend on earlier bars)."""
    s = max(0, off - window + 1)
    return (talib.MAX(c[s:], timeperiod=window) - talib.MIN(c[s:], timeperiod=window) == 0)[off - s:]


def lag(x: np.ndarray, k: int, off: int) -> np.ndarray:
    """x[t - k] for t = off .. len(x) - 1, NaN where t < k."""
    out = np.full(len(x) - off, np.nan)
    first = max(off, k)
    if first < len(x):
        out[first - off:] = x[first - k:len(x) - k]
    return out
