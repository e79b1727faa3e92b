"""Open interest and day volume of every listed option contract, for all simulated underlyings.

OI is carried per contract in whole contracts and updated every OI_STEP minutes of simulated
time (never per poll), so it is the same whether the market is polled every minute, every
ten, or resumed after a restart. Rising prices open calls near the money and unwind puts;
falling prices do the opposite; activity rises with volatility and with big moves.

Each contract evolves on its own (element-wise arithmetic on the same inputs), so a restart
that replays only from the listing of the oldest live expiry reproduces the numbers exactly.
All underlyings share one set of flat arrays: one step is a few dozen array operations.
"""
from __future__ import annotations

from datetime import datetime

import numpy as np

from engine.market.option_chain import ChainSpec, ExpiryCalendar, inv_sd

OI_STEP = 15  # minutes between open-interest updates
UNWIND = 0.0004 * OI_STEP  # base fraction of OI closed per step at normal activity (half-life ~1.2 days)
EXTEND_AT = 24  # list more strikes when the money comes this close to a listed edge...
EXTEND_TO = 30  # ...so that this many strikes either side of it are listed
KEEP_WITHIN = 45  # when listing more, delist strikes further than this from the money
_GOLDEN = 0.6180339887498949


def _phase(u: int, k: int, j: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random phase in [0, 1) per contract (exact integer hash)."""
    h = (j.astype(np.uint64) * np.uint64(2654435761)) ^ np.uint64((u * 7919 + k * 40503 + 12345) % 2**32)
    h ^= h >> np.uint64(15)
    h *= np.uint64(0x2C1B3C6D)
    h ^= h >> np.uint64(12)
    return (h % np.uint64(1_000_003)).astype(float) / 1_000_003.0


def _profile(a: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * a * a)


class OpenInterestBook:
    """The book; lookup(u, expiries, strikes) serves chains, step(...) moves it on."""

    def __init__(self, specs: list[ChainSpec], calendar: ExpiryCalendar, start: datetime) -> None:
        self.specs = specs
        self.cal = calendar
        self.last_step = -1
        # A restart replays only the expiries still listed where it resumes: older ones would be
        # dropped before then, and contracts do not influence each other.
        self.min_expiry = -(2**62)
        self._day_offset = start.hour * 60 + start.minute  # minute 0's minute of the UTC day
        self._day = -1
        self._alive: tuple[int, ...] = ()
        self._layout: dict[tuple[int, int], tuple[int, int, int]] = {}  # (u, k) -> (jmin, n, offset)
        self.oi = np.empty(0)
        self.day_volume = np.empty(0)

    # -- structure --------------------------------------------------------------------
    def _needs_relayout(self, alive: tuple[int, ...], ja: list[int]) -> bool:
        if alive != self._alive:
            return True
        return any(
            ja[u] - EXTEND_AT < jmin or ja[u] + EXTEND_AT > jmin + n - 1
            for (u, _), (jmin, n, _) in self._layout.items()
        )

    def _relayout(self, alive: tuple[int, ...], ja: list[int], minute: int, spot: np.ndarray,
                  level: np.ndarray, long_run: np.ndarray) -> None:
        """List new expiries and strikes, drop expired ones; every surviving contract keeps its state."""
        cols: dict[str, list[np.ndarray]] = {c: [] for c in ("u", "e", "j", "call", "oi", "vol", "phase")}
        layout: dict[tuple[int, int], tuple[int, int, int]] = {}
        offset = 0
        for u, spec in enumerate(self.specs):
            for e, k in enumerate(alive):
                lo, hi = ja[u] - EXTEND_TO, ja[u] + EXTEND_TO
                old = self._layout.get((u, k))
                if old is not None:  # extend only where needed: a range depends on its own history
                    ojmin, on, ooff = old
                    if ja[u] - EXTEND_AT >= ojmin and ja[u] + EXTEND_AT <= ojmin + on - 1:
                        lo, hi = ojmin, ojmin + on - 1
                    else:  # grow toward the money, dropping strikes that are now far away
                        lo = max(min(lo, ojmin), ja[u] - KEEP_WITHIN)
                        hi = min(max(hi, ojmin + on - 1), ja[u] + KEEP_WITHIN)
                lo = max(lo, 1)
                j = np.arange(lo, hi + 1)
                n = j.size
                jj = np.concatenate([j, j])
                call = np.repeat([True, False], n)
                a = self._shape_arg(jj * spec.strike_step, call, spot[u],
                                    inv_sd(max(self.cal.expiry_minute(k) - minute, 1), level[u], long_run[u]))
                oi = np.rint(spec.oi_scale * np.where(call, 1.0, 1.2) * _profile(a))
                vol = np.zeros(2 * n)
                if old is not None:  # carry over the overlap of the old and new ranges
                    a0, a1 = max(lo, ojmin), min(hi, ojmin + on - 1)
                    for side in (0, 1):
                        src = slice(ooff + side * on + a0 - ojmin, ooff + side * on + a1 - ojmin + 1)
                        dst = slice(side * n + a0 - lo, side * n + a1 - lo + 1)
                        oi[dst], vol[dst] = self.oi[src], self.day_volume[src]
                for c, v in (("u", np.full(2 * n, u)), ("e", np.full(2 * n, e)), ("j", jj), ("call", call),
                             ("oi", oi), ("vol", vol), ("phase", _phase(u, k, jj))):
                    cols[c].append(v)
                layout[(u, k)] = (lo, n, offset)
                offset += 2 * n
        flat = {c: np.concatenate(v) for c, v in cols.items()}
        self._alive, self._layout = alive, layout
        self.oi, self.day_volume, self._phase = flat["oi"], flat["vol"], flat["phase"]
        self._u, self._call = flat["u"], flat["call"]
        self._ue = flat["u"] * len(alive) + flat["e"]
        step = np.array([s.strike_step for s in self.specs])
        self._log_k = np.log(flat["j"] * step[self._u])
        self._shift = np.where(self._call, 0.3, -0.5)
        self._inv_w = np.where(self._call, 1 / 1.2, 1 / 1.4)
        scale = np.array([s.oi_scale for s in self.specs])
        self._amp = np.where(self._call, 1.0, 1.2) * scale[self._u] * UNWIND
        self._cf = self._call.astype(float)
        self._exp_min = [self.cal.expiry_minute(k) for k in alive]

    @staticmethod
    def _shape_arg(strike: np.ndarray, call: np.ndarray, spot: float, inv_sd_: float) -> np.ndarray:
        """Standardised distance from where each side's activity peaks (calls above spot, puts below)."""
        x = np.log(strike / spot) * inv_sd_
        return np.where(call, (x - 0.3) / 1.2, (x + 0.5) / 1.4)

    # -- dynamics ---------------------------------------------------------------------
    def step(self, minute: int, spot: np.ndarray, ret_z: np.ndarray, mom: np.ndarray,
             level: np.ndarray, long_run: np.ndarray) -> None:
        """Advance by one OI step ending at the close of bar ``minute``; arrays are per underlying."""
        alive = tuple(k for k in self.cal.alive(minute) if k >= self.min_expiry)
        ja = [round(float(spot[u]) / s.strike_step) for u, s in enumerate(self.specs)]
        if self._needs_relayout(alive, ja):
            self._relayout(alive, ja, minute, spot, level, long_run)
        day = (self._day_offset + minute) // 1440
        if day != self._day:
            self.day_volume = np.zeros_like(self.day_volume)
            self._day = day
        activity = level / long_run * (1.0 + np.abs(ret_z))
        m = np.tanh(mom)
        up, down = np.clip(mom, 0.0, 2.0), np.clip(-mom, 0.0, 2.0)
        # Per underlying: open fraction and unwind rate as (base + slope x is_call).
        per_u = np.stack([1.0 - 0.7 * m, 1.4 * m, 1.0 + up, down - up, activity, np.log(spot)], axis=1)
        p = per_u[self._u]
        inv_den = np.array([
            inv_sd(e - minute, float(level[u]), float(long_run[u]))
            for u in range(len(self.specs)) for e in self._exp_min
        ])[self._ue]
        a = ((self._log_k - p[:, 5]) * inv_den - self._shift) * self._inv_w
        v = self._phase + (minute // OI_STEP) * _GOLDEN
        noise = 1.5 - (v - np.floor(v))  # in (0.5, 1.5]; floor is ~8x faster than mod
        act_noise = p[:, 4] * noise
        opens = self._amp * act_noise * _profile(a) * (p[:, 0] + p[:, 1] * self._cf)
        closes = self.oi * np.minimum(UNWIND * act_noise * (p[:, 2] + p[:, 3] * self._cf), 1.0)
        self.oi = np.maximum(np.rint(self.oi + opens - closes), 0.0)
        self.day_volume = self.day_volume + np.rint(opens + closes)
        self.last_step = minute

    # -- reads ------------------------------------------------------------------------
    def lookup(self, u: int, exps: list[int], j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """OI and day volume of underlying u for each expiry in turn, calls then puts at lattice
        strikes j (0 where a contract is not listed)."""
        flat, ok = [], []
        for k in exps:
            lay = self._layout.get((u, k))
            if lay is None:
                flat.append(np.zeros(2 * j.size, dtype=np.int64))
                ok.append(np.zeros(2 * j.size, dtype=bool))
                continue
            jmin, n, off = lay
            idx = j - jmin
            inside = (idx >= 0) & (idx < n)
            idx = np.minimum(np.maximum(idx, 0), n - 1) + off
            flat.append(np.concatenate([idx, idx + n]))
            ok.append(np.concatenate([inside, inside]))
        f, m = np.concatenate(flat), np.concatenate(ok)
        if self.oi.size == 0:
            z = np.zeros(f.size)
            return z, z.copy()
        return np.where(m, self.oi[f], 0.0), np.where(m, self.day_volume[f], 0.0)
