"""Building the classifier's per-bar output records (RegimeOutput), kept apart from the state machine."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from engine.regime.formation import RegimeRow
from engine.regime.inputs import ts_datetime
from engine.regime.intraday import Slot
from engine.regime.stability import Decision
from engine.regime.types import ModuleContribution, ModuleResult, RegimeOutput

if TYPE_CHECKING:
    from engine.regime.classifier import RegimeClassifier

WARMUP_COLOR = "#808080"


def warmup_output(clf: RegimeClassifier, i: int, why: str) -> RegimeOutput:
    """A not-yet-classified row (never stored): every module inactive with the reason."""
    mods = tuple(ModuleContribution(m.name, m.column, 0.0, 0.0, False, why, None, {}) for m in clf.modules)
    return RegimeOutput(
        ts=ts_datetime(int(clf.buf.ts[i])), symbol=clf.symbol, regime_id=-1, regime_name="Warming_Up",
        color=WARMUP_COLOR, confidence=0.0, raw_score=0.0, trend_component=float("nan"), trend_class="",
        trend_class_code=-1, volatility_component=float("nan"), volatility_class="", volatility_class_code=-1,
        adx=float("nan"), modules=mods, time_in_regime_minutes=0.0, transition=False, transition_rule=None,
        candidate_regime_id=-1, blocked_by=why, persistence=0.0, noise_level=float("nan"), consensus_score=0.0,
        transition_probability=0.0, stability_level="WARMUP", checks_passed=(), low_confidence=True,
        time_slot="", sensitivity=1.0, param_version=clf.version, warmup=True,
        extras={"underlying_spot": float(clf.buf.close[i])})


def classified_output(clf: RegimeClassifier, i: int, reg: RegimeRow, cand: RegimeRow, dec: Decision, conf: float,
                      d: float, t: float, v: float, adx: float, results: list[ModuleResult],
                      weights: dict[str, float], fired: list[str], nl: float, mtf_r: ModuleResult, slot: Slot | None,
                      sens: float, by: dict[str, ModuleResult], classes: dict[str, Any] | None = None,
                      noise_threshold: float = math.nan) -> RegimeOutput:
    """Row i's output: the decision, each module's contribution, and the OutputFormat extras."""
    f, st = clf.formation, clf.state
    tband, vband = f.trend_by_name[reg.trend_class], f.vol_by_name[reg.vol_class]
    mods = tuple(ModuleContribution(r.name, m.column, r.score, weights.get(r.name, 0.0), r.active,
                                    r.reason_if_inactive, r.vol, r.diagnostics)
                 for m, r in zip(clf.modules, results, strict=True))
    extras: dict[str, float] = {"underlying_spot": float(clf.buf.close[i])}
    extras.update(clf.straddle.levels(i))
    sd = by[clf.straddle.name].diagnostics
    if "atm_straddle" in sd:
        extras["atm_straddle"] = float(sd["atm_straddle"])
    gd = by[clf.greek.name].diagnostics
    for k in ("vanna", "charm", "volga"):
        if k in gd:
            extras[k] = float(gd[k])
    pct = by[clf.atr.name].diagnostics.get("atr_percentile", math.nan)
    pband = f.vol_class_by_percentile(pct)
    extras["atr_vol_class_code"] = float(pband.code if pband is not None else vband.code)
    extras["regime_persistence"] = clf.stability.normalised_persistence(reg, st.time_in_regime)
    if fired:
        extras["weight_rules_fired"] = float(len(fired))
    persistence = sum(1 for x in st.recent if x == reg.regime_id) / max(len(st.recent), 1)
    return RegimeOutput(
        ts=ts_datetime(int(clf.buf.ts[i])), symbol=clf.symbol, regime_id=reg.regime_id, regime_name=reg.name,
        color=reg.color, confidence=float(conf), raw_score=float(d), trend_component=float(t),
        trend_class=tband.name, trend_class_code=tband.code, volatility_component=float(v),
        volatility_class=vband.name, volatility_class_code=vband.code, adx=float(adx), modules=mods,
        time_in_regime_minutes=float(st.time_in_regime), transition=dec.transition and dec.rule_id != "INITIAL",
        transition_rule=dec.rule_id, candidate_regime_id=cand.regime_id, blocked_by=dec.blocked_by,
        persistence=float(persistence), noise_level=nl,
        consensus_score=float(mtf_r.diagnostics.get("consensus", 0.0)) if mtf_r.active else 0.0,
        transition_probability=float(dec.pending_progress), stability_level=clf.stability.level(conf),
        checks_passed=dec.checks, low_confidence=clf.stability.flag_low_confidence and conf < clf.stability.confidence_threshold,
        time_slot=slot.name if slot else "", sensitivity=float(sens), param_version=clf.version,
        extras=extras, classes=classes or {}, noise_threshold=float(noise_threshold))
