"""Noise filtering (NoiseFiltering + ValidationRules outlier/volume checks), vectorised per bar.

spike: |log return| above spike_threshold sigmas of the previous noise_memory_window returns (the bar
does not count toward confirming a new regime, unless it is an outsize move toward a more volatile
one: StabilityPolicy.raises_volatility); outlier: above the OutlierDataCheck z (same effect);
with ensemble_filtering also microstructure bars (|z| < microstructure_threshold) and, with the tick
filter, bars with no price change (same effect);
low volume: volume below volume_threshold_multiplier x its previous mean (confidence x (1 - penalty));
noise level: 1 - efficiency ratio (|net move| / path length) over noise_memory_window bars.
Noise threshold (``thresholds``): StabilityConfiguration noise_threshold, the maximum acceptable noise level.
With adaptive_noise_threshold it adapts per bar towards the instrument's trailing noise level (the
noise level above, itself over noise_memory_window bars): thr_t = thr_(t-1) + noise_learning_rate x
(noise_t - thr_(t-1)), seeded with noise_threshold at the buffer's first bar and held on bars without a
noise level (an exponential average: deterministic, causal, its seed forgotten within a few hundred
bars at 0.05). Not clipped to the workbook entry's 0.2..0.6 range: that bounds the entry, and minute
data sits near 0.9. Each record carries ``noise_threshold`` beside ``noise_level``; it is shown, not
a gate (the fixed threshold was not one either).
Direction persistence (``persistent``, sequential): the direction's sign must appear in
min_persistence_ratio of the last persistence_lookback readings, and (mean_reversion_check) not in
a run where every reading flips sign.
"""
from __future__ import annotations

import numpy as np
import talib

from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.regime.paramtext import number_threshold
from engine.regime.series import LONG_ROWS, lag


class NoiseFilter:
    def __init__(self, ps: ParamSet) -> None:
        c = Parameters(ps).noise_filtering
        self.spike_on = bool(c.price_spike_filter)
        self.spike = float(c.spike_threshold)
        self.volume_on = bool(c.volume_filter_enabled)
        self.vol_mult = float(c.volume_threshold_multiplier)
        self.low_volume_penalty = float(c.low_volume_penalty)
        self.persist_on = bool(c.persistence_filter_enabled)
        self.persist_ratio = float(c.min_persistence_ratio)
        self.persist_lookback = int(c.persistence_lookback)
        self.memory = int(c.noise_memory_window)
        self.micro_on = bool(c.microstructure_filter_enabled)
        self.micro = float(c.microstructure_threshold)
        self.tick_on = bool(c.tick_noise_filter)
        self.mean_reversion = bool(c.mean_reversion_check)
        self.ensemble = bool(c.ensemble_filtering)
        self.base_threshold = float(Parameters(ps).stability_configuration.noise_threshold)
        self.adaptive = bool(c.adaptive_noise_threshold)
        self.learning_rate = float(c.noise_learning_rate)
        self.outlier_z = None
        for r in Parameters(ps).validation_rules.rows:
            if str(r.action) == "filter_outlier" and r.enabled:
                self.outlier_z = number_threshold(r.condition)

    def compute(self, logret: np.ndarray, volume: np.ndarray) -> dict[str, np.ndarray]:
        n = len(logret)
        r = np.nan_to_num(logret, nan=0.0)
        if n >= 2:
            sd_prev = lag(talib.STDDEV(r, timeperiod=self.memory, nbdev=1.0), 1)
            path = talib.SUM(np.abs(r), timeperiod=self.memory)
            net = np.abs(talib.SUM(r, timeperiod=self.memory))
            vmean = lag(talib.SMA(np.nan_to_num(volume), timeperiod=self.memory), 1)
        else:
            sd_prev = path = net = vmean = np.full(n, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.abs(r) / sd_prev
            noise = 1.0 - net / path
        spike = (z > self.spike) if self.spike_on else np.zeros(n, bool)
        if self.outlier_z is not None:
            spike = spike | (z > self.outlier_z)
        outsize = spike.copy()  # the large-move flags only (before the small-move filters join them)
        if self.ensemble:  # the ensemble adds the small-move filters to the spike filters
            if self.micro_on:
                spike = spike | (z < self.micro)
            if self.tick_on:
                spike = spike | (r == 0.0)
        has_vol = vmean > 0  # what nan_to_num(vmean) > 0 says (NaN: False), without the copy
        low_vol = (volume < self.vol_mult * vmean) & has_vol if self.volume_on else np.zeros(n, bool)
        return {"spike": spike, "outsize": outsize, "low_volume": low_vol, "noise": noise, "return_z": z,
                "threshold": self.thresholds(noise)}

    def thresholds(self, noise: np.ndarray) -> np.ndarray:
        """Per-bar noise threshold (module docstring): the workbook's, or adapted towards the noise level."""
        out = np.full(len(noise), self.base_threshold)
        if not self.adaptive:
            return out
        thr, lr = self.base_threshold, self.learning_rate
        if len(noise) >= LONG_ROWS:  # buffers of replays and rebuilds: the same loop compiled, same floats
            from engine.regime.batch.recur import held_ema  # local import: numba, heavy
            return held_ema(np.ascontiguousarray(noise, dtype=np.float64), float(thr), float(lr))
        for k, x in enumerate(noise.tolist()):
            if x == x:  # NaN while the window fills: the threshold is held
                thr += lr * (x - thr)
            out[k] = thr
        return out

    def persistent(self, history: list[float], current: float) -> bool:
        """Does the current direction's sign appear in enough of the last persistence_lookback readings?"""
        if not self.persist_on or current == 0:
            return True
        recent = history[-self.persist_lookback:]
        if not recent:
            return True
        pos = current > 0
        same = sum(1 for x in recent if (x > 0) == pos and x != 0)
        if self.mean_reversion and len(recent) >= 3:
            seq = recent + [current]
            if all(a * b < 0 for a, b in zip(seq, seq[1:], strict=False)):  # every reading flips: a chop
                return False
        return same / len(recent) >= self.persist_ratio
