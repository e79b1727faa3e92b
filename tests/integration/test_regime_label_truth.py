"""The Regime page tells the truth: every stored snapshot's trend and volatility labels are the classes
the thresholds give for the numbers stored beside them (or the held class, within the recorded
hysteresis margin, or an intraday slot's demotion), checked against the workbook's threshold tables
read here directly, not through the engine's Formation, with the adaptive thresholds in force that each
record states (StabilityConfiguration enable_adaptive_thresholds): volatility boundaries replaced by the
recorded ones, slope boundaries times the recorded trend scale - themselves checked to lie within the
documented bounds (engine/regime/adaptive.py: each boundary within [a/2, 2a] of the workbook's, ordered;
trend scale within [1/2, 2]).
"""
from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select

from engine.params.versions import active_params
from engine.store.models import RegimeSnapshot
from tests.engine_run import warmed_engine


def _tables(params: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    trend = [{"name": str(r.as_dict()["class"]), "lo": float(r.min_slope), "hi": float(r.max_slope),
              "adx": float(r.min_adx)} for r in params.table("RegimeClassification", "trend_thresholds")]
    vol = [{"name": str(r.as_dict()["class"]), "lo": float(r.min_value), "hi": float(r.max_value)}
           for r in params.table("RegimeClassification", "volatility_thresholds")]
    return trend, vol


def allowed_trend(trend: list[dict[str, Any]], t: float, adx: float) -> set[str]:
    """Classes the thresholds allow for (t, adx): the strongest qualifying directional class, else the
    zero-straddling classes that contain t with their ADX (the Sideways formation rule may still veto)."""
    sgn = (t > 0) - (t < 0)
    directional = [c for c in trend if (c["lo"] >= 0 if sgn > 0 else c["hi"] <= 0) and not (c["lo"] < 0 < c["hi"])]
    for c in sorted(directional, key=lambda c: -abs(c["lo"] if sgn > 0 else c["hi"])):
        edge = abs(c["lo"] if sgn > 0 else c["hi"])
        if sgn and abs(t) >= edge and adx >= c["adx"]:
            return {c["name"]}
    zero = [c for c in trend if c["lo"] < 0 < c["hi"]]
    base = min(zero, key=lambda c: c["adx"])["name"]
    return {base} | {c["name"] for c in zero if c["lo"] <= t <= c["hi"] and adx >= c["adx"]}


def vol_of(vol: list[dict[str, Any]], v: float) -> str:
    for c in vol:
        if c["lo"] <= v < c["hi"]:
            return c["name"]
    return vol[-1]["name"] if v >= vol[-1]["lo"] else vol[0]["name"]


def in_force(rec: dict[str, Any], trend: list[dict[str, Any]], vol: list[dict[str, Any]]
             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """The tables with the record's adaptive thresholds applied, and any bound they break."""
    th = rec.get("thresholds") or {}
    if not th.get("adaptive"):
        return trend, vol, []
    bad = []
    s, edges = float(th["trend_scale"]), [float(x) for x in th["vol_edges"]]
    wb = [c["hi"] for c in vol[:-1]]
    if not 0.5 <= s <= 2.0:
        bad.append(f"trend scale {s} outside [0.5, 2]")
    if len(edges) != len(wb) or any(not a / 2 <= b <= 2 * a for a, b in zip(wb, edges, strict=False)) \
            or any(b2 <= b1 for b1, b2 in zip(edges, edges[1:], strict=False)):
        bad.append(f"volatility boundaries {edges} not ordered within [a/2, 2a] of the workbook's {wb}")
    trend2 = [dict(c, lo=c["lo"] * s, hi=c["hi"] * s) for c in trend]
    bounds = [vol[0]["lo"], *edges, vol[-1]["hi"] * edges[-1] / wb[-1]]
    vol2 = [dict(c, lo=bounds[k], hi=bounds[k + 1]) for k, c in enumerate(vol)]
    return trend2, vol2, bad


def check_snapshot(s: RegimeSnapshot, trend: list[dict[str, Any]], vol: list[dict[str, Any]]) -> list[str]:
    tr, vr = s.modules["classes"]["trend"], s.modules["classes"]["volatility"]
    trend, vol, bounds_bad = in_force(vr, trend, vol)
    t, adx, v = s.trend_value, tr["adx"] if tr["adx"] is not None else 0.0, s.volatility_value
    bad = list(bounds_bad)
    if tr["class"] != s.trend_class or not math.isclose(tr["value"], t, rel_tol=1e-12, abs_tol=1e-15):
        bad.append(f"trend record {tr['class']} {tr['value']} differs from the columns {s.trend_class} {t}")
    plain = allowed_trend(trend, t, adx)
    if tr["plain_class"] not in plain:
        bad.append(f"plain trend class {tr['plain_class']} for {t:.5f} (ADX {adx:.1f}); thresholds allow {plain}")
    held = tr["held_class"]
    if tr["basis"] == "threshold" and s.trend_class not in plain:
        bad.append(f"trend {s.trend_class} for {t:.5f} (ADX {adx:.1f}); thresholds allow {plain}")
    elif tr["basis"] in ("hysteresis", "demoted") and held not in plain:
        band = next(c for c in trend if c["name"] == held)
        t2 = t - tr["margin"] if t > band["hi"] else t + tr["margin"] if t < band["lo"] else t
        if held not in allowed_trend(trend, t2, adx + tr["adx_margin"]):
            bad.append(f"trend held {held} at {t:.5f} beyond its hysteresis margin {tr['margin']:.5f}")
    if tr["basis"] == "demoted":
        sign = {c["name"]: (c["lo"] >= 0) - (c["hi"] <= 0) for c in trend}
        width = {c["name"]: abs(c["lo"] if sign[c["name"]] > 0 else c["hi"]) for c in trend}
        if sign[s.trend_class] not in (0, sign[held]) or (sign[s.trend_class] and width[s.trend_class] >= width[held]):
            bad.append(f"trend demoted from {held} to {s.trend_class} is not a step down")
    if vr["class"] != s.volatility_class or not math.isclose(vr["value"], v, rel_tol=1e-12):
        bad.append(f"volatility record {vr['class']} differs from the columns {s.volatility_class} {v}")
    if vr["basis"] == "threshold" and vol_of(vol, v) != s.volatility_class:
        bad.append(f"volatility {s.volatility_class} for {v:.4f}; thresholds say {vol_of(vol, v)}")
    elif vr["basis"] == "hysteresis":
        band = next(c for c in vol if c["name"] == s.volatility_class)
        v2 = v - vr["margin"] if v >= band["hi"] else v + vr["margin"]
        if vol_of(vol, v2) != s.volatility_class:
            bad.append(f"volatility held {s.volatility_class} at {v:.4f} beyond its margin {vr['margin']:.4f}")
    return bad


def test_every_stored_snapshot_label_agrees_with_its_number_and_thresholds(any_db_url: str) -> None:
    ctx, _cycle = warmed_engine(any_db_url, market_ticks=120)
    with ctx.store.read() as session:
        trend, vol = _tables(active_params(session))
        snaps = list(session.scalars(select(RegimeSnapshot).order_by(RegimeSnapshot.id)))
    assert len(snaps) >= 100
    problems = [f"{s.ts}: {p}" for s in snaps for p in check_snapshot(s, trend, vol)]
    assert problems == [], f"{len(problems)} label/number disagreements, e.g. {problems[:5]}"
    bases = {s.modules["classes"]["trend"]["basis"] for s in snaps} | {s.modules["classes"]["volatility"]["basis"]
                                                                       for s in snaps}
    assert "threshold" in bases  # the check saw plain threshold decisions (and held ones when they occurred)
    moved = [s for s in snaps if s.modules["classes"]["volatility"].get("thresholds", {}).get("vol_edges", [0.12, 0.25])
             != [0.12, 0.25]]
    assert moved, "no snapshot ran under adapted thresholds (the reference workbook has them on)"


def test_the_old_mismatch_is_caught() -> None:
    """The checker fails a label that disagrees with its number (the page's old 'Strong_Bullish (-0.0006)')."""
    from engine.params import default_params
    trend, vol = _tables(default_params())
    rec = {"class": "Strong_Bullish", "value": -0.0006, "adx": 12.0, "plain_class": "Strong_Bullish",
           "held_class": "Strong_Bullish", "basis": "threshold", "margin": 0.0, "adx_margin": 0.0}
    snap = RegimeSnapshot(trend_value=-0.0006, trend_class="Strong_Bullish", volatility_value=0.1,
                          volatility_class="Low", modules={"classes": {"trend": rec, "volatility": {
                              "class": "Low", "value": 0.1, "basis": "threshold", "margin": 0.0}}})
    bad = check_snapshot(snap, trend, vol)
    assert any("thresholds allow {'Neutral'}" in b for b in bad)


def test_adaptive_thresholds_are_applied_from_the_record() -> None:
    """A label right only under the recorded adaptive boundaries passes; the same label under the
    workbook's boundaries, or with a boundary outside its bounds, fails."""
    from engine.params import default_params
    trend, vol = _tables(default_params())
    tr = {"class": "Neutral", "value": 0.0, "adx": 12.0, "plain_class": "Neutral", "held_class": "Neutral",
          "basis": "threshold", "margin": 0.0, "adx_margin": 0.0}
    vr = {"class": "High", "value": 0.15, "basis": "threshold", "margin": 0.0,
          "thresholds": {"adaptive": True, "vol_edges": [0.08, 0.14], "trend_scale": 0.6}}
    snap = RegimeSnapshot(trend_value=0.0, trend_class="Neutral", volatility_value=0.15, volatility_class="High",
                          modules={"classes": {"trend": tr, "volatility": vr}})
    assert check_snapshot(snap, trend, vol) == []  # 0.15 >= 0.14: High under the recorded boundaries
    vr["thresholds"] = {"adaptive": False}
    assert any("thresholds say Medium" in b for b in check_snapshot(snap, trend, vol))  # workbook: 0.12 <= 0.15 < 0.25
    vr["thresholds"] = {"adaptive": True, "vol_edges": [0.08, 0.10], "trend_scale": 0.6}  # 0.10 < 0.25 / 2
    assert any("not ordered within" in b for b in check_snapshot(snap, trend, vol))
