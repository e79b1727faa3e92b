"""The record of how a bar's trend and volatility classes were decided: the number compared, the band
it was compared with, and the rule that settled it (plain threshold, hysteresis around the held class,
or an intraday slot's demotion).

Why: the Regime page must show the label the classifier decided together with the number it decided on
and the thresholds that apply. The adopted regime may be held by the stability rules while the bar's
own classes have moved on; the page used to print the held regime's trend class next to the current
bar's number ("Strong_Bullish (-0.0006)"). These records travel in the snapshot's JSON.

With adaptive thresholds (adaptive.py) the classes are decided on the workbook's scale (T / s, V mapped
so that the adapted boundaries land on the workbook's); ``records`` writes the number, the band and the
hysteresis margin back in the number's own units, with the thresholds in force (``thresholds``), so a
reader checks the label against the number without knowing the mapping.
"""
from __future__ import annotations

import math
from typing import Any

from engine.regime.adaptive import Thresholds
from engine.regime.formation import Formation, TrendBand, VolBand

BASIS_THRESHOLD = "threshold"    # the plain class of the number
BASIS_HYSTERESIS = "hysteresis"  # the held class kept: the number has not left it by the hysteresis margin
BASIS_DEMOTED = "demoted"        # an intraday slot restricts the plain class: stepped down


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def trend_record(f: Formation, value: float, adx: float, plain: TrendBand, kept: TrendBand, final: TrendBand,
                 h: float, slot: str) -> dict[str, Any]:
    """Trend: ``plain`` = class of ``value`` alone, ``kept`` = after hysteresis, ``final`` = after demotion."""
    basis = BASIS_THRESHOLD if kept.name == plain.name else BASIS_HYSTERESIS
    if final.name != kept.name:
        basis = BASIS_DEMOTED
    margin = adx_margin = 0.0
    if basis == BASIS_HYSTERESIS and math.isfinite(value):  # the same pull-back as candidate.trend_with_hysteresis
        edge = kept.hi if value > kept.hi else kept.lo if value < kept.lo else 0.0
        margin = h * max(abs(edge), f.slope_scale) if edge else 0.0
        adx_margin = h * kept.min_adx if math.isfinite(adx) and adx < kept.min_adx else 0.0
    return {"class": final.name, "value": _num(value), "adx": _num(adx), "lo": final.lo, "hi": final.hi,
            "min_adx": final.min_adx, "basis": basis, "plain_class": plain.name, "held_class": kept.name,
            "hysteresis": float(h), "margin": float(margin), "adx_margin": float(adx_margin), "slot": slot}


def vol_record(f: Formation, value: float, plain: VolBand, final: VolBand, h: float) -> dict[str, Any]:
    basis = BASIS_THRESHOLD if final.name == plain.name else BASIS_HYSTERESIS
    edge = final.hi if math.isfinite(value) and value >= final.hi else final.lo
    margin = h * max(abs(edge), f.vol_scale) if basis == BASIS_HYSTERESIS else 0.0
    return {"class": final.name, "value": _num(value), "lo": final.lo, "hi": final.hi, "basis": basis,
            "plain_class": plain.name, "hysteresis": float(h), "margin": float(margin)}


def records(f: Formation, thr: Thresholds, t: float, v: float, adx: float, plain_t: TrendBand, kept: TrendBand,
            final_t: TrendBand, plain_v: VolBand, final_v: VolBand, h: float, slot: str) -> dict[str, Any]:
    """Both records of a bar in the components' own units (t, v raw); the classes were decided on
    thr.trend_value(t), thr.vol_value(v) against the workbook tables."""
    tc, vc = thr.trend_value(t), thr.vol_value(v)
    tr = trend_record(f, tc, adx, plain_t, kept, final_t, h, slot)
    vr = vol_record(f, vc, plain_v, final_v, h)
    if thr.adaptive:
        s = thr.trend_scale
        tr.update(value=_num(t), lo=final_t.lo * s, hi=final_t.hi * s, margin=tr["margin"] * s)
        m = vr["margin"]
        if m and math.isfinite(vc):
            m = thr.vol_raw(final_v.hi + m) - thr.vol_raw(final_v.hi) if vc >= final_v.hi else \
                thr.vol_raw(final_v.lo) - thr.vol_raw(final_v.lo - m)
        vr.update(value=_num(v), lo=thr.vol_raw(final_v.lo), hi=thr.vol_raw(final_v.hi), margin=float(m))
    th = thr.as_dict()
    tr["thresholds"] = vr["thresholds"] = th
    return {"trend": tr, "volatility": vr}


def thresholds_text(rec: dict[str, Any]) -> str:
    """'adaptive: volatility boundaries 9.8% / 17.1% (workbook 12.0% / 25.0%), trend ×0.71' (or 'workbook thresholds')."""
    th = rec.get("thresholds") or {}
    if not th.get("adaptive"):
        return "workbook thresholds (adaptive thresholds off)"
    own = " / ".join(f"{x * 100:.1f}%" for x in th.get("vol_edges", []))
    wb = " / ".join(f"{x * 100:.1f}%" for x in th.get("workbook_vol_edges", []))
    return f"adaptive: volatility boundaries {own} (workbook {wb}), trend boundaries ×{th.get('trend_scale', 1.0):.2f}"


def describe(rec: dict[str, Any], unit: str = "") -> str:
    """'Neutral: -0.0006 within -0.003 … 0.003' / 'Bullish kept (hysteresis): 0.0026, leaves below 0.003 - 0.0003'."""
    v = rec.get("value")
    vs = "—" if v is None else f"{v:.4f}{unit}" if not unit else f"{v * 100:.1f}{unit}"
    lo, hi = rec.get("lo"), rec.get("hi")

    def b(x: float | None) -> str:
        return "—" if x is None else f"{x:.4f}" if not unit else f"{x * 100:.1f}{unit}"
    text = f"{rec.get('class')}: {vs}, band {b(lo)} … {b(hi)}"
    if rec.get("min_adx"):
        text += f", ADX {rec.get('adx') or 0:.0f} (needs ≥ {rec['min_adx']:.0f})"
    if rec.get("basis") == BASIS_HYSTERESIS:
        text += f"; held by hysteresis (plain class {rec.get('plain_class')}, margin {b(rec.get('margin'))})"
    elif rec.get("basis") == BASIS_DEMOTED:
        text += f"; demoted from {rec.get('held_class')} in slot {rec.get('slot')}"
    return text
