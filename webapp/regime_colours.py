"""One colour per regime of RegimeClassification that a trader can tell apart: hue by trend class,
lightness by volatility class. Used by the Regime page's bands, timeline, legend, duration chart,
current-regime swatch and what-if lanes.

Why not the workbook's Color column: the reference workbook gives the five bullish regimes near-identical
greens and two Sideways regimes the same purple, so runs could not be told apart. The workbook's trend
and volatility classes decide the colour instead, so a renamed or added regime still gets one.
"""
from __future__ import annotations

import colorsys
from collections.abc import Mapping, Sequence
from typing import Any

# Hues (degrees) of the reference workbook's trend classes: bullish greens/teal, neutral blue,
# sideways purple, bearish orange/red. Other trend class names get evenly spread hues in between.
TREND_HUES: dict[str, float] = {
    "Strong_Bullish": 125.0, "Bullish": 172.0, "Neutral": 215.0, "Sideways": 280.0,
    "Bearish": 32.0, "Strong_Bearish": 355.0,
}
SATURATION = 0.72
LIGHTNESS_RANGE = (0.74, 0.32)  # lowest volatility class lightest, highest darkest
VOL_ORDER_DEFAULT = ("Low", "Medium", "High")


def _hex(h_deg: float, lightness: float, saturation: float = SATURATION) -> str:
    r, g, b = colorsys.hls_to_rgb((h_deg % 360.0) / 360.0, lightness, saturation)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def _trend_hues(names: Sequence[str]) -> dict[str, float]:
    out = {n: TREND_HUES[n] for n in names if n in TREND_HUES}
    others = [n for n in dict.fromkeys(names) if n not in out]
    for k, n in enumerate(others):  # unknown classes: spread over the wheel, away from the known ones
        out[n] = (245.0 + 360.0 * (k + 0.5) / max(len(others), 1) / 3.0) % 360.0
    return out


def _vol_lightness(names: Sequence[str]) -> dict[str, float]:
    known = [n for n in VOL_ORDER_DEFAULT if n in names]
    order = known + sorted(n for n in dict.fromkeys(names) if n not in known)
    lo, hi = LIGHTNESS_RANGE
    if len(order) == 1:
        return {order[0]: (lo + hi) / 2}
    return {n: lo + (hi - lo) * k / (len(order) - 1) for k, n in enumerate(order)}


def regime_colours(regimes: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """{regime_name: '#rrggbb'} from catalogue rows with regime_name, trend_class and volatility_class."""
    hues = _trend_hues([str(r["trend_class"]) for r in regimes])
    light = _vol_lightness([str(r["volatility_class"]) for r in regimes])
    return {str(r["regime_name"]): _hex(hues[str(r["trend_class"])], light[str(r["volatility_class"])])
            for r in regimes}


def with_display_colours(catalogue: dict[str, Any]) -> dict[str, Any]:
    """A copy of a regime catalogue ({"regimes": [...], ...}) whose rows carry the display colour."""
    colours = regime_colours(catalogue["regimes"])
    regimes = [{**r, "workbook_color": r.get("color"), "color": colours[str(r["regime_name"])]}
               for r in catalogue["regimes"]]
    return {**catalogue, "regimes": regimes}
