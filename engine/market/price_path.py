"""Bars of the simulated universe, generated in fixed chunks of minutes.

Every chunk is a pure function of (seed, chunk number, the previous chunk's last prices and
tail): random draws come from a generator keyed by (seed, chunk), and each chunk is computed
by the same vectorised code whether it is reached by polling minute by minute or by a
restart replaying history. That is what makes resume_after reproduce an uninterrupted run
bit for bit.

Volatility is annualised over trading minutes (252 x 390 a year), the usual convention for
realised volatility of 1-minute bars.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from engine.market.regime_process import RegimeProcess

MINUTES_PER_YEAR = 252 * 390
CHUNK = 4096
INDEX = "IDX"
# symbol, start price, beta to the index, idiosyncratic annual vol (medium regime), volume/minute
UNIVERSE: tuple[tuple[str, float, float, float, float], ...] = (
    (INDEX, 5000.0, 1.0, 0.0, 250_000.0),
    ("ALFA", 182.5, 1.10, 0.20, 40_000.0),
    ("BRVO", 64.2, 1.40, 0.28, 55_000.0),
    ("CHRL", 311.8, 0.80, 0.16, 18_000.0),
    ("DLTA", 27.4, 1.60, 0.35, 90_000.0),
    ("ECHO", 118.9, 1.00, 0.22, 30_000.0),
    ("FXTR", 46.3, 1.25, 0.30, 60_000.0),
    ("GOLF", 389.0, 0.70, 0.14, 12_000.0),
    ("HOTL", 85.6, 0.90, 0.24, 35_000.0),
)
SYMBOLS: tuple[str, ...] = tuple(u[0] for u in UNIVERSE)
START_PRICE = np.array([u[1] for u in UNIVERSE])
BETA = np.array([u[2] for u in UNIVERSE])
IDIO_VOL = np.array([u[3] for u in UNIVERSE])
BASE_VOLUME = np.array([u[4] for u in UNIVERSE])

INDEX_VOL = np.array([0.08, 0.18, 0.40])  # annualised, by volatility code (low, medium, high)
IDIO_SCALE = np.array([0.7, 1.0, 1.6])
VOLUME_SCALE = np.array([0.7, 1.0, 1.8])
# Trend drift per minute, as a fraction of the geometric mean of the minute's sigma and the
# medium regime's: 0.7%/h (t ~ 3.5 over an hour) in low vol, 1.0%/h (t ~ 2.3) in medium vol,
# 1.5%/h (t ~ 1.6) in high vol.
DRIFT_PER_SIGMA = 0.30
TREND_SIGN = np.array([1.0, -1.0, 0.0])  # by trend code (up, down, sideways)
LOOKBACK = 30  # minutes behind momentum and the smoothed volatility level
# A slow pull of log prices back toward their start (e-folding ~20,000 minutes): invisible
# within a regime, but it keeps a long run's prices in a realistic range.
REVERSION = 1.0 / 20_000


def nominal_vol(vol_codes: np.ndarray) -> np.ndarray:
    """Annual vol of each symbol per minute given the regime: index vol and beta-scaled + idio."""
    iv = INDEX_VOL[vol_codes][:, None]
    return np.sqrt((BETA * iv) ** 2 + (IDIO_VOL * IDIO_SCALE[vol_codes][:, None]) ** 2)


@dataclass(slots=True)
class Chunk:
    """Minutes [first, first + CHUNK) of every symbol; arrays are (minutes, symbols)."""

    number: int
    first: int
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    trend: np.ndarray
    vol: np.ndarray
    ann_vol: np.ndarray  # nominal annual vol of each symbol in this minute's regime
    log_dev: np.ndarray  # unrounded log distance from the start price, carried into the next chunk
    log_close: np.ndarray
    mom: np.ndarray  # LOOKBACK-minute log return / nominal sigma over LOOKBACK (z-score-like)
    vol_level: np.ndarray  # mean nominal annual vol over the last LOOKBACK minutes
    lite: bool = False  # only the price path (no bars or features): made when a restart skips ahead


class PricePath:
    """Sequential chunk generator for one seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.regimes = RegimeProcess(seed)

    def first_chunk(self) -> Chunk:
        return self.next_chunk(None)

    def next_chunk(self, prev: Chunk | None, bars: bool = True) -> Chunk:
        """The chunk after ``prev``. With bars=False only the price path is computed (a restart
        skipping ahead): such a chunk can seed the next one but serves no bars or features."""
        k = 0 if prev is None else prev.number + 1
        first = k * CHUNK
        n_sym = len(SYMBOLS)
        rng = np.random.default_rng([self.seed, 1000, k])
        z = rng.standard_normal((CHUNK, n_sym))
        trend, vol = self.regimes.codes(first, first + CHUNK)

        sig_idx = INDEX_VOL[vol] / np.sqrt(MINUTES_PER_YEAR)
        drift = DRIFT_PER_SIGMA * np.sqrt(sig_idx * INDEX_VOL[1] / np.sqrt(MINUTES_PER_YEAR))
        r_idx = TREND_SIGN[trend] * drift + sig_idx * z[:, 0]
        sig_idio = IDIO_VOL * IDIO_SCALE[vol][:, None] / np.sqrt(MINUTES_PER_YEAR)
        ret = BETA * r_idx[:, None] + sig_idio * z
        ret[:, 0] = r_idx
        ann = nominal_vol(vol)
        sig = ann / np.sqrt(MINUTES_PER_YEAR)

        dev0 = np.zeros(n_sym) if prev is None else prev.log_dev[-1]
        keep = 1.0 - REVERSION
        log_dev, _ = lfilter([1.0], [1.0, -keep], ret, axis=0, zi=(keep * dev0)[None, :])
        log0 = np.log(START_PRICE) + dev0
        log_close = np.log(START_PRICE) + log_dev
        if not bars:
            none = np.empty((0, n_sym))
            return Chunk(k, first, none, none, none, none, none, trend, vol, ann, log_dev, log_close,
                         none, none, lite=True)
        hl = np.abs(rng.standard_normal((CHUNK, n_sym, 2)))
        vn = rng.standard_normal((CHUNK, n_sym))
        close_raw = np.exp(log_close)
        open_raw = np.vstack([np.exp(log0)[None, :], close_raw[:-1]])
        high_raw = np.maximum(open_raw, close_raw) * np.exp(0.5 * sig * hl[:, :, 0])
        low_raw = np.minimum(open_raw, close_raw) * np.exp(-0.5 * sig * hl[:, :, 1])
        move = np.abs(ret) / sig
        volume = np.rint(
            BASE_VOLUME * VOLUME_SCALE[vol][:, None] * (0.6 + 0.5 * move) * np.exp(0.3 * vn - 0.045)
        )

        # Lookback features need the previous chunk's tail (or a flat history before minute 0).
        if prev is None:
            tail_log = np.repeat(log0[None, :], LOOKBACK, axis=0)
            tail_ann = np.repeat(ann[:1], LOOKBACK, axis=0)
        else:
            tail_log, tail_ann = prev.log_close[-LOOKBACK:], prev.ann_vol[-LOOKBACK:]
        ext_log = np.vstack([tail_log, log_close])
        mom = (ext_log[LOOKBACK:] - ext_log[:-LOOKBACK]) / (ann * np.sqrt(LOOKBACK / MINUTES_PER_YEAR))
        csum = np.cumsum(np.vstack([tail_ann, ann]), axis=0)
        vol_level = (csum[LOOKBACK:] - csum[:-LOOKBACK]) / LOOKBACK
        return Chunk(
            number=k,
            first=first,
            open=np.round(open_raw, 2),
            high=np.round(high_raw, 2),
            low=np.round(low_raw, 2),
            close=np.round(close_raw, 2),
            volume=volume,
            trend=trend,
            vol=vol,
            ann_vol=ann,
            log_dev=log_dev,
            log_close=log_close,
            mom=mom,
            vol_level=vol_level,
        )
