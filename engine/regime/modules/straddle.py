"""TripleStraddleAnalysis (StraddleAnalysisConfig): ATM/ITM1/OTM1 straddles and pivot families.

Pivots (classic, Fibonacci, Camarilla, Woodie, DeMark) come from the previous completed session's
OHLC (intraday_pivot_reset TRUE; FALSE: from a rolling window of one session's length of bars), for
every bar, so the record always has support1_classic / resistance1_classic.
Per snapshot: ATM by synthetic future (K + C - P at the strike nearest spot) or spot; straddles at
ATM and +/- 1..(straddle_strikes-1)//2 strikes weighted GAUSSIAN/EQUAL/LINEAR. Score = mean of
(a) pivot score: per enabled family, +1 above R1 by breakout_threshold, -1 below S1, 0 inside the
consolidation band around P, linear in between; family-weighted, x pivot_confluence_bonus when
pivots agree within the band, x near_pivot_sensitivity near R1/S1, x pivot_time_decay per session
hour; (b) straddle skew: change of (C - P)/(C + P) since the session's first snapshot.
Vol: straddle-implied annual vol = straddle / (spot * sqrt(2/pi) * sqrt(T)).
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import numpy as np
import talib

from engine.market.types import OptionChain
from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.regime.modules.base import Frame, RegimeModule, clip1
from engine.regime.modules.chainutil import DAYS_PER_YEAR, ChainView
from engine.regime.series import lag, session_ohlc
from engine.regime.types import ModuleResult

FAMILIES = ("classic", "fibonacci", "camarilla", "woodie", "demark")
SKEW_SHIFT_FULL = 0.2  # a 0.2 move of (C - P)/(C + P) since the session's first snapshot is full conviction


def pivots(o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray) -> dict[str, tuple[np.ndarray, ...]]:
    """(P, R1, S1) per family from a session's open/high/low/close (textbook formulas)."""
    rng = h - lo
    p = (h + lo + c) / 3.0
    pw = (h + lo + 2.0 * c) / 4.0
    x = np.where(c < o, h + 2.0 * lo + c, np.where(c > o, 2.0 * h + lo + c, h + lo + 2.0 * c))
    return {
        "classic": (p, 2.0 * p - lo, 2.0 * p - h),
        "fibonacci": (p, p + 0.382 * rng, p - 0.382 * rng),
        "camarilla": (c, c + rng * 1.1 / 12.0, c - rng * 1.1 / 12.0),
        "woodie": (pw, 2.0 * pw - lo, 2.0 * pw - h),
        "demark": (x / 4.0, x / 2.0 - lo, x / 2.0 - h),
    }


def pivot_position(spot: float, p: float, r1: float, s1: float, breakout: float, band: float) -> float:
    """+1 beyond R1*(1+breakout), -1 below S1*(1-breakout), 0 within P*(1 +/- band), linear between."""
    if not all(map(math.isfinite, (p, r1, s1))):
        return float("nan")
    if spot >= r1 * (1 + breakout):
        return 1.0
    if spot <= s1 * (1 - breakout):
        return -1.0
    if abs(spot - p) <= band * p:
        return 0.0
    if spot > p:
        return min(1.0, (spot - p) / max(r1 * (1 + breakout) - p, 1e-12))
    return -min(1.0, (p - spot) / max(p - s1 * (1 - breakout), 1e-12))


class PerBar(Mapping[str, tuple[np.ndarray, ...]]):
    """Per-session pivot levels read per bar (levels[take]); a family is expanded to bars on first read.
    Why: the records and the batch replay read only the classic family; the others only bars with a chain."""

    def __init__(self, per_session: dict[str, tuple[np.ndarray, ...]], take: np.ndarray) -> None:
        self._sess, self._take = per_session, take
        self._bars: dict[str, tuple[np.ndarray, ...]] = {}

    def __getitem__(self, family: str) -> tuple[np.ndarray, ...]:
        got = self._bars.get(family)
        if got is None:
            got = self._bars[family] = tuple(a[self._take] for a in self._sess[family])
        return got

    def __iter__(self) -> Iterator[str]:
        return iter(self._sess)

    def __len__(self) -> int:
        return len(self._sess)


class StraddleModule(RegimeModule):
    name, component, column = "TripleStraddleAnalysis", "StraddleAnalysis", "straddle_analysis"

    def __init__(self, ps: ParamSet) -> None:
        super().__init__(ps)
        c = Parameters(ps).straddle_analysis_config
        self.n_straddles = int(c.straddle_strikes)
        self.atm_method = str(c.atm_selection_method).upper()
        self.weighting = str(c.straddle_weighting).upper()
        use = [bool(c.use_classic_pivots), bool(c.use_fibonacci_pivots), bool(c.use_camarilla_pivots),
               bool(c.use_woodie_pivots), bool(c.use_demark_pivots)]
        wts = [float(c.classic_weight), float(c.fibonacci_weight), float(c.camarilla_weight),
               float(c.woodie_weight), float(c.demark_weight)]
        self.family_w = {f: w for f, u, w in zip(FAMILIES, use, wts, strict=True) if u}
        self.breakout = float(c.breakout_threshold)
        self.band = float(c.consolidation_band)
        self.confluence = float(c.pivot_confluence_bonus)
        self.reset = bool(c.intraday_pivot_reset)
        self.decay = float(c.pivot_time_decay)
        self.near_sens = float(c.near_pivot_sensitivity)
        self.piv: Mapping[str, tuple[np.ndarray, ...]] = {}
        self._day: int | None = None
        self._skew0 = 0.0

    def prepare(self, frame: Frame) -> None:
        b = frame.buf
        if self.reset or not frame.tb.intraday:  # once per session, then per bar (element-wise: the same floats)
            o, h, lo, c, take = session_ohlc(frame.day, b.open, b.high, b.low, b.close)
            self.piv = PerBar(pivots(o, h, lo, c), take)
            return
        # no reset at the session open: levels roll over the previous session's length of bars
        n = max(2, round(frame.tb.bars_per_day))
        o, h, lo, c = (lag(b.open, n), lag(talib.MAX(b.high, n), 1), lag(talib.MIN(b.low, n), 1), lag(b.close, 1))
        self.piv = pivots(o, h, lo, c)

    def levels(self, i: int) -> dict[str, float]:
        p, r1, s1 = (float(a[i]) for a in self.piv["classic"]) if self.piv else (np.nan,) * 3
        return {"support1_classic": s1, "resistance1_classic": r1, "pivot_classic": p}

    def pivot_score(self, i: int, spot: float, hours: float) -> tuple[float, dict[str, float]]:
        num = den = 0.0
        ps = []
        near = False
        for f, w in self.family_w.items():
            p, r1, s1 = (float(a[i]) for a in self.piv[f])
            pos = pivot_position(spot, p, r1, s1, self.breakout, self.band)
            if math.isfinite(pos):
                num += w * pos
                den += w
                ps.append(p)
                near |= min(abs(spot - r1), abs(spot - s1)) <= self.band * spot
        if den == 0:
            return float("nan"), {}
        score = num / den
        confl = len(ps) >= 2 and (max(ps) - min(ps)) <= self.band * float(np.mean(ps))
        if confl:
            score *= self.confluence
        if near:
            score *= self.near_sens
        score *= self.decay ** max(hours, 0.0)
        return clip1(score), {"pivot_confluence": confl, "near_pivot": near}

    def step(self, i: int, chain: OptionChain | ChainView | None, frame: Frame) -> ModuleResult:
        view = ChainView.of(chain)
        if view is None:
            return self.no_chain()
        chain = view.chain
        spot = float(chain.spot)
        k = np.asarray(chain.strike, dtype=float)
        price = np.asarray(chain.price, dtype=float)
        m = view.near
        ks = np.unique(k[m])

        def px(strike: float, call: bool) -> float:
            sel = m & (k == strike) & (view.call == call)
            return float(price[sel][0]) if sel.any() else float("nan")

        atm = view.atm
        if self.atm_method == "SYNTHETIC_FUTURE":
            fwd = atm + px(atm, True) - px(atm, False)
            if math.isfinite(fwd):
                atm = float(ks[np.argmin(np.abs(ks - fwd))])
        half = max(0, (self.n_straddles - 1) // 2)
        j0 = int(np.searchsorted(ks, atm))
        offs = [o for o in range(-half, half + 1) if 0 <= j0 + o < len(ks)]
        sw = {"EQUAL": lambda o: 1.0, "LINEAR": lambda o: 1.0 / (1 + abs(o))}.get(
            self.weighting, lambda o: math.exp(-0.5 * o * o))
        cs = np.array([px(ks[j0 + o], True) for o in offs])
        pts = np.array([px(ks[j0 + o], False) for o in offs])
        ws = np.array([sw(o) for o in offs])
        ok = np.isfinite(cs) & np.isfinite(pts)
        if not ok.any():
            return ModuleResult.inactive(self.name, "no priced call/put pair near the money")
        straddle = float((ws[ok] * (cs[ok] + pts[ok])).sum() / ws[ok].sum())
        skew = float((ws[ok] * (cs[ok] - pts[ok])).sum() / max((ws[ok] * (cs[ok] + pts[ok])).sum(), 1e-12))
        day = int(frame.day[i])
        if day != self._day:
            self._day, self._skew0 = day, skew
        straddle_dir = clip1((skew - self._skew0) / SKEW_SHIFT_FULL)
        hours = (i - int(frame.sess_start[i])) * frame.tb.bar_minutes / 60.0 if frame.tb.intraday else 0.0
        pscore, pdiag = self.pivot_score(i, spot, hours)
        score = straddle_dir if not math.isfinite(pscore) else 0.5 * (pscore + straddle_dir)
        t = max(float(view.expiries[0]), 0.5) / DAYS_PER_YEAR
        atm_straddle = px(atm, True) + px(atm, False)
        vol = atm_straddle / (spot * math.sqrt(2.0 / math.pi) * math.sqrt(t)) if math.isfinite(atm_straddle) else None
        state = "breakout_up" if pscore >= 1 else "breakout_down" if pscore <= -1 else \
            "consolidation" if pscore == 0 else "inside"
        return ModuleResult(self.name, clip1(score), vol, True, "", {
            "atm_strike": atm, "atm_straddle": atm_straddle, "combined_straddle": straddle,
            "straddle_skew": skew, "pivot_score": pscore, "pivot_state": state, **pdiag})
