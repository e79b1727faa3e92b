"""RegimeClassifier: the incremental regime state machine (live path and replay share it).

``update`` appends new bars (and the chain of the latest bar) to a buffer, recomputes the
vectorised module arrays over the whole buffer, then steps every new bar through modules ->
weighting -> formation -> noise/intraday adjustments -> stability and transition rules. Because the
batch replay calls the same ``update_many`` on the whole history, row t of either path uses bars <= t
only and the two produce identical sequences. Past MAX_BUFFER bars the oldest bars are dropped (a long
batch is fed in pieces of MAX_BUFFER/2): recursive averages then differ only negligibly (their memory
decays long before the emitted rows), but a session cut by the buffer start gives slightly different
pivots for the session after it, so very long live and batch runs agree on ~all rather than all rows.
"""
from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Mapping
from datetime import datetime

import numpy as np

from engine.market.types import OptionChain
from engine.params.paramset import ParamSet
from engine.regime import candidate, class_decision, outputs
from engine.regime.adaptive import AdaptiveThresholds, Thresholds
from engine.regime.config import Validation, version_id
from engine.regime.denoise import Denoiser
from engine.regime.formation import Formation, RegimeRow
from engine.regime.inputs import BarsLike, ChainsLike, to_buffer, ts_datetime, ts_ns
from engine.regime.intraday import IntradayClock
from engine.regime.modules.atr import ATRModule
from engine.regime.modules.base import Frame, RegimeModule
from engine.regime.modules.chainutil import ChainView
from engine.regime.modules.correlation import CorrelationModule
from engine.regime.modules.greeks import GreekSentimentModule
from engine.regime.modules.iv_surface import IVSurfaceModule
from engine.regime.modules.mtf import MultiTimeframeModule
from engine.regime.modules.oipa import TrendingOIPAModule
from engine.regime.modules.straddle import StraddleModule
from engine.regime.modules.volume_profile import VolumeProfileModule
from engine.regime.noise import NoiseFilter
from engine.regime.paramtext import minutes_threshold
from engine.regime.series import (
    INTERVAL_PROBE,
    NS_PER_MIN,
    PriceBuffer,
    TimeBase,
    local_clock,
    log_returns,
    session_starts,
)
from engine.regime.stability import Decision, Proposal, StabilityPolicy, shown_confidence
from engine.regime.transitions import TransitionPolicy
from engine.regime.types import ModuleResult, RegimeError, RegimeOutput
from engine.regime.vol_index import VolIndexBuffer, VolIndexLike
from engine.regime.weighting import Weighting

log = logging.getLogger(__name__)

MAX_BUFFER = 5_000  # bars recomputed each update: 13 sessions of 1-minute bars, ~20x the longest window


class RegimeClassifier:
    """Keeps the regime state of one underlying; feed it bars (and chains) in time order."""

    def __init__(self, params: ParamSet, symbol: str = "", *, max_buffer: int = MAX_BUFFER) -> None:
        self.params = params
        self.symbol = symbol
        self.version = version_id(params) or f"unsaved:{str(getattr(params, 'content_hash', ''))[:12]}"
        self.atr = ATRModule(params)
        self.mtf = MultiTimeframeModule(params)
        self.greek = GreekSentimentModule(params)
        self.straddle = StraddleModule(params)
        self.iv = IVSurfaceModule(params)
        self.corr = CorrelationModule(params)
        self.modules: list[RegimeModule] = [self.greek, TrendingOIPAModule(params), self.straddle, self.iv,
                                            self.atr, self.mtf, VolumeProfileModule(params), self.corr]
        self.formation = Formation(params)
        self.adaptive = AdaptiveThresholds(params, self.formation)  # class thresholds in force (adaptive.py)
        self.weighting = Weighting(params)
        self.noise = NoiseFilter(params)
        self.denoise = Denoiser(params)
        self.vol_index = VolIndexBuffer()  # implied-volatility index points (VIX), aligned to the bars in _frame
        self.clock = IntradayClock(params)
        self.transitions = TransitionPolicy(params, self.formation)
        self.stability = StabilityPolicy(params, self.transitions)
        self.state = self.stability.new_state()
        self.validation = Validation(params)
        self.stale_minutes = _minutes(self.validation.condition("use_cached_regime"))
        self.gap_minutes = _minutes(self.validation.condition("halt_regime_detection"))
        self.max_buffer = max_buffer
        self.buf = PriceBuffer.empty()
        self.tb: TimeBase | None = None
        self.seen = 0  # bars ever appended (global index of the next bar)
        self.peers: dict[str, PriceBuffer] = {}
        self._pending_chains: list[OptionChain] = []
        self._chain: OptionChain | None = None
        self._raw_hist: deque[tuple[float, float, float]] = deque(maxlen=max(1, self.transitions.smoothing_window))
        self._dir_hist: list[float] = []
        self._last: RegimeOutput | None = None
        self._off = 0

    # -- public API ------------------------------------------------------------------------
    def update(self, bars: BarsLike, chain: OptionChain | None = None,
               peers: Mapping[str, BarsLike] | None = None, vol_index: VolIndexLike = None) -> RegimeOutput:
        """Add the new bar(s) (older ones are ignored) and the latest chain; return the latest output."""
        out = self.update_many(bars, [chain] if chain is not None else None, peers, vol_index)
        if out:
            self._last = out[-1]
        elif self._last is None:
            raise RegimeError(f"regime {self.symbol or 'classifier'}: update() got no bars; pass at least one bar "
                              "(timestamp, open, high, low, close, volume)")
        return self._last  # no new bar (a re-delivered one): the state is unchanged

    def update_many(self, bars: BarsLike, chains: ChainsLike = None,
                    peers: Mapping[str, BarsLike] | None = None, vol_index: VolIndexLike = None) -> list[RegimeOutput]:
        """Add bars (and chains, any order; each applies from its ts on; and implied-volatility index points,
        vol_index.py) and classify every new bar."""
        self.vol_index.add(vol_index)
        new = to_buffer(bars)
        ok = np.isfinite(new.open) & np.isfinite(new.high) & np.isfinite(new.low) & np.isfinite(new.close) \
            & (new.close > 0) & (new.low > 0)
        if not ok.all():  # one NaN would poison every recursive indicator: such bars are dropped, and said so
            log.warning("regime %s: dropped %d bar(s) with missing or non-positive prices (first at %s)",
                        self.symbol or "classifier", int((~ok).sum()), ts_datetime(int(new.ts[~ok][0])))
            new = PriceBuffer(*(a[ok] for a in new.arrays()))
        new.volume = np.nan_to_num(new.volume, nan=0.0)
        if len(new) and np.any(np.diff(new.ts) <= 0):
            raise RegimeError(f"regime {self.symbol or 'classifier'}: bar timestamps must be strictly increasing; "
                              "sort the data and drop duplicate timestamps")
        step = max(1, self.max_buffer // 2)
        if len(new) > step:  # more bars than the buffer holds: feed them in pieces (same as the live path)
            outs: list[RegimeOutput] = self.update_many(PriceBuffer(*(a[:step] for a in new.arrays())), chains, peers)
            for s in range(step, len(new), step):
                outs += self.update_many(PriceBuffer(*(a[s:s + step] for a in new.arrays())))
            return outs
        self._add_chains(chains)
        for name, df in (peers or {}).items():
            old = self.peers.get(name, PriceBuffer.empty())
            self.peers[name], _ = old.extend(to_buffer(df), self.max_buffer * 2)
        before = len(self.buf)
        self.buf, dropped = self.buf.extend(new, self.max_buffer)
        n_new = len(self.buf) - (before - dropped)
        if n_new <= 0:
            return []
        first_global = self.seen
        self.seen += n_new
        if self.tb is None:
            self.tb = TimeBase.infer(self.buf.ts, self.clock.session_minutes)
        rows_idx = np.arange(len(self.buf) - n_new, len(self.buf))
        if self.tb is None:
            return [self._warmup(int(i), "collecting bars to measure the bar interval") for i in rows_idx]
        return self._classify(rows_idx, first_global)

    def _classify(self, rows_idx: np.ndarray, first_global: int) -> list[RegimeOutput]:
        """Modules over the buffer, then each new row stepped (the batch path overrides this one method)."""
        frame = self._frame(rows_idx)
        for m in self.modules:
            m.prepare(frame)
        off = int(rows_idx[0])
        noise = {k: v[off:].tolist() for k, v in self.noise.compute(frame.logret, self.buf.volume).items()}
        slots = self.clock.slot_index(frame.minute[off:], frame.tb.intraday).tolist()
        self._off = off
        outs = []
        for k, i in enumerate(rows_idx):
            if first_global + k <= INTERVAL_PROBE:
                outs.append(self._warmup(int(i), "collecting bars to measure the bar interval"))
                continue
            outs.append(self._step(int(i), frame, noise, slots))
        return outs

    def last_ts(self) -> datetime | None:
        return ts_datetime(int(self.buf.ts[-1])) if len(self.buf) else None

    # -- internals -------------------------------------------------------------------------
    def _frame(self, rows_idx: np.ndarray) -> Frame:
        b, tb = self.denoise.apply(self.buf), self.tb  # the modules see the denoised prices (denoise.py)
        if tb is None:  # update_many returns warm-up rows until the interval is known
            raise RegimeError(f"regime {self.symbol or 'classifier'}: bar interval not measured yet; "
                              "feed bars through update_many before classifying")
        day, minute = local_clock(b.ts, self.clock.tz)
        if not tb.intraday:
            day = np.arange(len(b), dtype=np.int64)
        peers = {}
        for name, pb in self.peers.items():
            if len(pb.ts) == 0:  # a peer without any bar yet (a symbol the data feed has not traded): absent
                continue
            j = np.searchsorted(pb.ts, b.ts, side="right") - 1
            close = np.where(j >= 0, pb.close[np.maximum(j, 0)], np.nan)
            peers[name] = close
        self.vol_index.trim(int(b.ts[0]))
        return Frame(b, tb, day, minute, session_starts(day), log_returns(b.close), rows_idx, peers,
                     vol_index=self.vol_index.align(b.ts))

    def _add_chains(self, chains: ChainsLike) -> None:
        if chains is None:
            return
        items = chains.values() if isinstance(chains, Mapping) else chains
        got = [c for c in items if c is not None]
        if got:
            self._pending_chains = sorted(self._pending_chains + got, key=lambda c: ts_ns(c.ts))

    def _chain_at(self, now_ns: int) -> tuple[OptionChain | None, str]:
        while self._pending_chains and ts_ns(self._pending_chains[0].ts) <= now_ns:
            self._chain = self._pending_chains.pop(0)
        c = self._chain
        if c is None:
            return None, "no option chain"
        age = (now_ns - ts_ns(c.ts)) / NS_PER_MIN
        if self.stale_minutes is not None and age > self.stale_minutes:
            return None, f"option chain stale ({age:.0f} min old)"
        return c, ""

    def _warmup(self, i: int, why: str) -> RegimeOutput:
        return outputs.warmup_output(self, i, why)

    def _step(self, i: int, frame: Frame, noise: dict[str, np.ndarray], slots: np.ndarray) -> RegimeOutput:
        b, tb, f, st = self.buf, frame.tb, self.formation, self.state
        chain, chain_note = self._chain_at(int(b.ts[i]))
        view = ChainView.of(chain)
        results: list[ModuleResult] = []
        for m in self.modules:
            r = m.step(i, view if m.needs_chain else None, frame)
            if m.needs_chain and chain is None and chain_note != "no option chain":
                r = ModuleResult.inactive(m.name, chain_note + self.validation.tag("use_cached_regime"))
            if not m.enabled:
                r = ModuleResult.inactive(m.name, "disabled in IndicatorConfiguration", **r.diagnostics)
            elif m.component in self.weighting.master_off:
                r = ModuleResult.inactive(m.name, "switched off in MasterConfiguration", **r.diagnostics)
            results.append(r)
        by = {r.name: r for r in results}
        atr_r, mtf_r = by[self.atr.name], by[self.mtf.name]
        if not atr_r.diagnostics or not math.isfinite(atr_r.diagnostics.get("adx", math.nan)) \
                or not math.isfinite(self.atr.at("vol", i)):
            return self._warmup(i, f"warming up: ATR/ADX need {2 * self.atr.period} bars")
        adx = float(atr_r.diagnostics["adx"])
        atr_pct = float(atr_r.diagnostics.get("atr_percentile", math.nan))
        v_atr = self.atr.at("vol", i)
        iv_r = by[self.iv.name]
        v_raw = v_atr if not (iv_r.active and iv_r.vol) else self.atr.cw * v_atr + (1 - self.atr.cw) * float(iv_r.vol)
        corr_r = by[self.corr.name]
        env_w = {"atr_percentile": atr_pct, "adx": adx,
                 "expiry_day": chain is not None and len(chain) > 0 and float(np.min(chain.expiry_days)) < 1.0,
                 "low_volume": noise["low_volume"][i - self._off],
                 "high_correlation": corr_r.active and corr_r.diagnostics.get("mean_abs_rho", 0.0) >= self.corr.min_corr}
        weights, fired = self.weighting.effective(
            [(m.name, m.component, m.base_weight, by[m.name].active) for m in self.modules], env_w,
            f.high_vol_level(v_raw))
        d_raw = sum(weights[r.name] * r.score for r in results if r.active)
        persistent = self.noise.persistent(self._dir_hist, d_raw)
        self._dir_hist.append(d_raw)
        if len(self._dir_hist) > 64:
            del self._dir_hist[:-32]
        d_use = d_raw if persistent else 0.0
        t_price = self.mtf.slope_ref(i)
        t_raw = (t_price if math.isfinite(t_price) else 0.0) + d_use * f.slope_scale
        if self.transitions.smoothing_on and self._raw_hist:
            k = self.transitions.smoothing  # weight of the recent window's mean against the new reading
            n = len(self._raw_hist)
            t_s = (1 - k) * t_raw + k * sum(x[0] for x in self._raw_hist) / n
            v_s = (1 - k) * v_raw + k * sum(x[1] for x in self._raw_hist) / n
            d_s = (1 - k) * d_use + k * sum(x[2] for x in self._raw_hist) / n
        else:
            t_s, v_s, d_s = t_raw, v_raw, d_use
        self._raw_hist.append((t_raw, v_raw, d_use))
        thr = self.adaptive.step(t_s, v_s)  # classes compare t_c, v_c (workbook scale) with the workbook tables
        t_c, v_c = thr.trend_value(t_s), thr.vol_value(v_s)

        slot = self.clock.slot(slots[i - self._off])
        sens = (slot.sensitivity if slot else 1.0) * (self._expiry_factor() if env_w["expiry_day"] else 1.0)
        nl = noise["noise"][i - self._off]
        greek_r, vp_r = by[self.greek.name], by["VolumeProfileAnalysis"]
        env = {"trend_slope": t_c, "atr_percentile": atr_pct if math.isfinite(atr_pct) else None,
               "greek_sentiment": greek_r.score if greek_r.active else None, "trend_strength": abs(d_s),
               "price_in_range": atr_r.diagnostics.get("price_in_range"),
               "volume_profile": vp_r.diagnostics.get("volume_profile") if vp_r.active else None}
        cur = st.regime
        h = self.stability.hysteresis / max(sens, 1e-9)
        if self.stability.adaptive_hysteresis and math.isfinite(nl):
            h *= 1.0 + nl
        trend = kept = candidate.trend_with_hysteresis(f, t_c, adx, env, cur, h)
        vol = candidate.vol_with_hysteresis(f, v_c, cur, h)
        if slot is not None and slot.restricted:
            trend = candidate.demote(f, trend, vol, slot.restricted)
        classes = class_decision.records(f, thr, t_s, v_s, adx, f.trend_class(t_c, adx, env), kept, trend,
                                         f.vol_class(v_c), vol, h, slot.name if slot else "")
        cand = f.regime(trend, vol)
        share_c = (sum(1 for x in st.recent if x == cand.regime_id) + 1) / (len(st.recent) + 1)
        penalty = (1.0 - self.noise.low_volume_penalty) if env_w["low_volume"] else 1.0
        conf_c = self.stability.confidence(f.evidence(cand, t_c, v_c, d_s, env), share_c) * penalty
        if cur is not None and cur.regime_id != cand.regime_id:
            share_s = (sum(1 for x in st.recent if x == cur.regime_id)) / (len(st.recent) + 1)
            conf_s = self.stability.confidence(f.evidence(cur, t_c, v_c, d_s, env), share_s) * penalty
        else:
            conf_s = conf_c
        direction = f.trend_by_name[cand.trend_class].direction
        signals, available = self._signals(results, cand, cur, direction, not env_w["low_volume"], persistent, thr)
        gap = self._gap(i, frame)
        if gap:
            st.clock += tb.bar_minutes
            dec = Decision(cur or cand, False, None, gap, (), 0.0)
            if cur is None:
                st.regime, st.entered = cand, st.clock
        else:
            dec = self.stability.decide(st, Proposal(
                cand, conf_c, conf_s, signals, available, max(0.0, direction * d_s) if direction else 0.0,
                direction != 0, noise["spike"][i - self._off], tb.bar_minutes, sens, self.clock.session_minutes,
                session_gap=tb.intraday and i > 0 and frame.day[i] != frame.day[i - 1],
                outsize=bool(noise["outsize"][i - self._off])))
        reg = dec.regime
        conf = shown_confidence(dec, cand, conf_c, conf_s)  # a routed adoption shows the candidate's
        return outputs.classified_output(self, i, reg, cand, dec, conf, d_s, t_s, v_s, adx, results, weights,
                                         fired, nl, mtf_r, slot, sens, by, classes,
                                         noise_threshold=noise["threshold"][i - self._off])

    def _expiry_factor(self) -> float:
        """TransitionManagement expiry_day_rules: RELAXED boosts sensitivity, STRICT damps it, DISABLED ignores."""
        rule = self.transitions.expiry_rules
        if rule == "RELAXED":
            return self.clock.expiry_mult
        if rule == "STRICT":
            return 1.0 / self.clock.expiry_mult if self.clock.expiry_mult > 0 else 1.0
        return 1.0

    def _signals(self, results: list[ModuleResult], cand: RegimeRow, cur: RegimeRow | None, direction: int,
                 volume_ok: bool, persistent: bool, thr: Thresholds) -> tuple[int, int]:
        tp = self.transitions
        skip = {n for n, keep in ((self.greek.name, tp.validate_greeks), (self.corr.name, tp.validate_correlation))
                if not keep}
        return candidate.count_signals(self.formation, results, cand, cur, direction, self.stability.signal_strength,
                                       skip, self.mtf.name, tp.validate_volume, volume_ok, persistent,
                                       thr.vol_value)

    def _gap(self, i: int, frame: Frame) -> str:
        if self.gap_minutes is None or not frame.tb.intraday or i == 0 or frame.day[i] != frame.day[i - 1]:
            return ""
        gap = (int(self.buf.ts[i]) - int(self.buf.ts[i - 1])) / NS_PER_MIN - frame.tb.bar_minutes
        return f"data gap of {gap:.0f} min (MissingDataCheck): regime held" if gap > self.gap_minutes else ""


def _minutes(condition: str | None) -> float | None:
    return minutes_threshold(condition) if condition else None
