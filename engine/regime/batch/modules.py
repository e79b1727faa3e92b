"""Every module's reading for a chunk of rows, as arrays (what RegimeClassifier._step gets one by one).

Price modules (ATR, multi-timeframe, volume profile, and correlation without peers) are read straight
from the arrays their ``prepare`` computed; every other module (option-chain modules, correlation
with peers, any module added later) is stepped row by row with its own ``step``, in time order, with
the same chain lookup and the same overrides as the live path, so its internal state evolves as there.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import numpy as np

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
from engine.regime.types import ModuleResult

if TYPE_CHECKING:
    from engine.market.types import OptionChain
    from engine.regime.classifier import RegimeClassifier

CHAIN_ONLY = (GreekSentimentModule, TrendingOIPAModule, StraddleModule, IVSurfaceModule)  # no chain: no_chain()
VECTOR = (ATRModule, MultiTimeframeModule, VolumeProfileModule)
EXTRA_KEYS = ("atm_straddle", "vanna", "charm", "volga")


@dataclass
class ModuleArrays:
    """Per module (classifier order): active, score (0 when inactive), vol (NaN when none); plus what
    weighting, formation and the records read from diagnostics."""

    active: list[np.ndarray]
    score: list[np.ndarray]
    vol: list[np.ndarray]
    has_vol: list[np.ndarray]
    ready: np.ndarray  # ATR/ADX warmed up (the row is classified)
    adx: np.ndarray
    pct: np.ndarray
    v_atr: np.ndarray
    in_range: np.ndarray
    consensus: np.ndarray
    consensus_ok: np.ndarray
    vp_label: np.ndarray  # object: balanced / above_value / below_value / None
    mean_abs_rho: np.ndarray
    expiry_day: np.ndarray
    slope: np.ndarray  # multi-timeframe slope_ref (NaN where none)
    extras: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # key -> (values, present)


def _override(clf: RegimeClassifier, m: RegimeModule, r: ModuleResult, stale: str) -> ModuleResult:
    """The live path's overrides, in its order: stale chain, disabled, switched off in MasterConfiguration."""
    if m.needs_chain and stale:
        r = ModuleResult.inactive(m.name, stale + clf.validation.tag("use_cached_regime"))
    if not m.enabled:
        r = ModuleResult.inactive(m.name, "disabled in IndicatorConfiguration", **r.diagnostics)
    elif m.component in clf.weighting.master_off:
        r = ModuleResult.inactive(m.name, "switched off in MasterConfiguration", **r.diagnostics)
    return r


def _switch(clf: RegimeClassifier, m: RegimeModule, active: np.ndarray) -> np.ndarray:
    return active & bool(m.enabled) & (m.component not in clf.weighting.master_off)


def compute(clf: RegimeClassifier, frame: Frame, rows_idx: np.ndarray, stepped: np.ndarray) -> ModuleArrays:
    n = len(rows_idx)
    ts = clf.buf.ts
    # chains at each stepped row (the live path's lookup, in time order: it pops pending chains)
    views: list[ChainView | None] = [None] * n
    stale = [""] * n
    expiry = np.zeros(n, bool)
    if clf._pending_chains or clf._chain is not None:
        for k in np.flatnonzero(stepped):
            chain, note = clf._chain_at(int(ts[rows_idx[k]]))
            views[k] = ChainView.of(chain)
            stale[k] = note if chain is None and note != "no option chain" else ""
            expiry[k] = chain is not None and len(chain) > 0 and float(np.min(chain.expiry_days)) < 1.0
    has_chains = bool(clf._pending_chains or clf._chain is not None)
    any_chain = has_chains and any(v is not None for v in views)
    any_stale = has_chains and any(stale)
    active, score, vol, has_vol = [], [], [], []
    a = {k: v[rows_idx - clf.atr.off] for k, v in clf.atr.a.items()} if not _tail(rows_idx, clf.atr) \
        else clf.atr.a  # ATRModule.a holds the rows from its off on: these rows, in the usual case
    atr_raw = np.isfinite(a["atr"]) & np.isfinite(a["direction"])
    mt = {k: np.asarray(v, dtype=np.float64) for k, v in clf.mtf.arrays.items()}
    consensus = mt.get("consensus", np.full(n, np.nan))
    vp_label = np.full(n, None, dtype=object)
    rho = np.zeros(n)
    extras: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for m in clf.modules:
        v = np.full(n, np.nan)
        hv = np.zeros(n, bool)
        if isinstance(m, ATRModule):
            act = atr_raw
            sc = np.clip(np.where(act, a["direction"], 0.0), -1.0, 1.0)
            v = np.where(act, a["vol"], np.nan)
            hv = act.copy()
        elif isinstance(m, MultiTimeframeModule):
            cnt = mt.get("count", np.zeros(n))
            d = mt.get("direction", np.full(n, np.nan))
            act = (np.trunc(cnt) >= m.min_tf) & np.isfinite(d)
            sc = np.clip(np.where(act, d, 0.0), -1.0, 1.0)
        elif isinstance(m, VolumeProfileModule):
            act, sc = _volume_profile(m, frame, rows_idx, vp_label)
        elif isinstance(m, CorrelationModule) and not frame.peers:
            act, sc = np.zeros(n, bool), np.zeros(n)
        else:
            act, sc, v, hv = _stepped(clf, m, frame, rows_idx, stepped, views, stale, any_chain, any_stale, rho, extras)
            active.append(act)
            score.append(sc)
            vol.append(v)
            has_vol.append(hv)
            continue
        act = _switch(clf, m, act) & stepped
        active.append(act)
        score.append(np.where(act, sc, 0.0))
        vol.append(np.where(act, v, np.nan))
        has_vol.append(hv & act)
    adx = a["adx"]
    v_atr = a["vol"]
    ready = stepped & atr_raw & np.isfinite(adx) & np.isfinite(v_atr)
    mtf_k = clf.modules.index(clf.mtf)
    ok = np.abs(consensus) >= clf.mtf.signal_consensus
    return ModuleArrays(active, score, vol, has_vol, ready, adx, a["pct"], v_atr, a["in_range"],
                        np.where(active[mtf_k], consensus, 0.0), ok, vp_label, rho, expiry,
                        mt.get("slope_day", np.full(n, np.nan)), extras)


def _tail(rows_idx: np.ndarray, atr: ATRModule) -> bool:
    """Are the rows exactly the ones ATRModule.prepare kept (off .. off + len - 1)?"""
    n = len(next(iter(atr.a.values()), ()))
    return len(rows_idx) == n and (n == 0 or (int(rows_idx[0]) == atr.off and int(rows_idx[-1]) == atr.off + n - 1))


def _volume_profile(m: VolumeProfileModule, frame: Frame, rows_idx: np.ndarray,
                    label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """VolumeProfileModule.step over the chunk's rows, from its ``profile`` arrays (its prepare is skipped)."""
    n = len(rows_idx)
    sc, val, vah, vsum = (np.full(n, np.nan) for _ in range(4))
    at, score, q, vs = m.profile(frame)
    if 0 < len(at) <= n and np.array_equal(at, rows_idx[n - len(at):]):  # the usual case: the rows' tail
        k0 = n - len(at)
        sc[k0:], val[k0:], vah[k0:], vsum[k0:] = score, q[:, 0], q[:, 2], vs
    elif len(at):
        pos = np.searchsorted(rows_idx, at)
        ok = (pos < n) & (rows_idx[np.minimum(pos, n - 1)] == at)
        k = pos[ok]
        sc[k], val[k], vah[k], vsum[k] = score[ok], q[ok, 0], q[ok, 2], vs[ok]
    with np.errstate(invalid="ignore"):
        act = (vsum > 0) & np.isfinite(sc)
        close = frame.buf.close[rows_idx]
        code = np.where((val <= close) & (close <= vah), 0, np.where(close > vah, 1, 2))
    label[:] = None
    label[act] = _VP_LABELS[code[act]]  # a take from the three texts (no string array per chunk)
    return act, np.clip(np.where(act, sc, 0.0), -1.0, 1.0)


_VP_LABELS = np.array(["balanced", "above_value", "below_value"], dtype=object)


def _stepped(clf: RegimeClassifier, m: RegimeModule, frame: Frame, rows_idx: np.ndarray, stepped: np.ndarray,
             views: list[ChainView | None], stale: list[str], any_chain: bool, any_stale: bool, rho: np.ndarray,
             extras: dict[str, tuple[np.ndarray, np.ndarray]],
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A module stepped row by row (its own state advances exactly as in the live path)."""
    n = len(rows_idx)
    act, sc, v, hv = np.zeros(n, bool), np.zeros(n), np.full(n, np.nan), np.zeros(n, bool)
    if isinstance(m, CHAIN_ONLY) and not any_chain and not any_stale:
        return act, sc, v, hv  # no chain on any row: no_chain() everywhere (inactive, no vol, no diagnostics)
    want = {"atm_straddle"} if m is clf.straddle else {"vanna", "charm", "volga"} if m is clf.greek else set()
    for k in np.flatnonzero(stepped).tolist():
        if isinstance(m, CHAIN_ONLY) and views[k] is None and not stale[k]:
            r = _override(clf, m, m.no_chain(), "")
        else:
            view = cast("OptionChain | None", views[k] if m.needs_chain else None)  # modules accept a ChainView
            r = _override(clf, m, m.step(int(rows_idx[k]), view, frame), stale[k])
        act[k], sc[k] = r.active, r.score
        if r.vol is not None:
            v[k], hv[k] = r.vol, True
        if m is clf.corr and r.active:
            rho[k] = r.diagnostics.get("mean_abs_rho", 0.0)
        for key in want & r.diagnostics.keys():
            vals, present = extras.setdefault(key, (np.full(n, np.nan), np.zeros(n, bool)))
            vals[k], present[k] = float(r.diagnostics[key]), True
    return act, sc, v, hv


def concat(parts: list[ModuleArrays]) -> ModuleArrays:
    """The chunks' arrays end to end (an optional extra absent from a chunk: not present there)."""
    def cat(get: Callable[[ModuleArrays], np.ndarray]) -> np.ndarray:
        return np.concatenate([get(p) for p in parts])

    k = len(parts[0].active)
    extras: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for key in {e for p in parts for e in p.extras}:
        vals = [p.extras[key] if key in p.extras else (np.full(len(p.ready), np.nan), np.zeros(len(p.ready), bool))
                for p in parts]
        extras[key] = (np.concatenate([v for v, _ in vals]), np.concatenate([m for _, m in vals]))
    return ModuleArrays(
        [np.concatenate([p.active[j] for p in parts]) for j in range(k)],
        [np.concatenate([p.score[j] for p in parts]) for j in range(k)],
        [np.concatenate([p.vol[j] for p in parts]) for j in range(k)],
        [np.concatenate([p.has_vol[j] for p in parts]) for j in range(k)],
        cat(lambda p: p.ready), cat(lambda p: p.adx), cat(lambda p: p.pct), cat(lambda p: p.v_atr),
        cat(lambda p: p.in_range), cat(lambda p: p.consensus), cat(lambda p: p.consensus_ok), cat(lambda p: p.vp_label),
        cat(lambda p: p.mean_abs_rho), cat(lambda p: p.expiry_day), cat(lambda p: p.slope), extras)
