"""Regime page lines for the classifier's inputs: the noise level against its (adaptive) threshold, the
implied-volatility index the volatility module used (or why not), and the regime's momentum text for the
dynamics line. Plain data in, components out; no data access."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dash import html

from components.ids import regime as ids


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if v == v else None


def noise_text(record: Mapping[str, Any]) -> str:
    """'noise 0.87 against threshold 0.84: above (noisy)' from a snapshot's record."""
    nl, thr = _num(record.get("noise_level")), _num(record.get("noise_threshold"))
    if nl is None:
        return "noise: not measured yet"
    if thr is None:
        return f"noise {nl:.2f}"
    return f"noise {nl:.2f} against threshold {thr:.2f}: " + ("above (noisy)" if nl > thr else "within")


def vix_text(modules: list[Mapping[str, Any]]) -> str:
    """'VIX 21.4 blended into volatility' or why the implied-volatility index was not used."""
    atr = next((m for m in modules if m.get("name") == "ATRBasedIndicators"), None)
    d = (atr or {}).get("diagnostics") or {}
    if "vix_used" not in d:
        return "implied-volatility index: not reported"
    vix = _num(d.get("vix"))
    if d.get("vix_used") and vix is not None:
        return f"VIX {vix:.1f} blended into volatility"
    return f"VIX not used: {d.get('vix_note') or 'no value'}" + (f" (last {vix:.1f})" if vix is not None else "")


def input_notes(latest: Mapping[str, Any]) -> html.Div:
    """The current card's input lines (noise, implied-volatility index)."""
    return html.Div([html.Div(noise_text(latest.get("record") or {}), id=ids.CURRENT_NOISE),
                     html.Div(vix_text(list(latest.get("modules") or [])), id=ids.CURRENT_VIX)],
                    className="small text-muted mt-1")


def momentum_text(dyn: Mapping[str, Any]) -> str:
    """'momentum +0.50 over 20 bars; ' for the dynamics line ('' when RegimeStability regime_momentum is off)."""
    m = _num(dyn.get("momentum"))
    return "" if m is None else f"momentum {m:+.2f} over {dyn.get('momentum_bars')} bars; "
