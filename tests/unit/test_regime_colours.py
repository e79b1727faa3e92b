"""Every regime of RegimeClassification gets a colour a trader can tell apart: hue by trend class,
lightness by volatility class. Distances are CIE76 ΔE in CIELAB, computed here from the sRGB standard."""
from __future__ import annotations

import colorsys
import itertools
import math

from engine.params import default_params
from engine.store.regime_queries import regime_catalogue_of
from webapp.regime_colours import regime_colours, with_display_colours


def _lab(hex_colour: str) -> tuple[float, float, float]:
    rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [((x + 0.055) / 1.055) ** 2.4 if x > 0.04045 else x / 12.92 for x in rgb]
    x = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047
    y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    z = (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116
    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def test_every_workbook_regime_is_distinguishable() -> None:
    cat = regime_catalogue_of(default_params())
    colours = regime_colours(cat)
    assert set(colours) == {r["regime_name"] for r in cat} and len(set(colours.values())) == len(cat)
    worst = min(math.dist(_lab(a), _lab(b)) for a, b in itertools.combinations(colours.values(), 2))
    assert worst > 12.0  # clearly distinct at a glance (the workbook's own colours: ~3 between two greens)
    workbook = [r["color"] for r in cat]
    assert min(math.dist(_lab(a), _lab(b)) for a, b in itertools.combinations(workbook, 2)) < 12.0


def test_hue_follows_trend_and_lightness_follows_volatility() -> None:
    cat = regime_catalogue_of(default_params())
    colours = regime_colours(cat)
    hls = {r["regime_name"]: colorsys.rgb_to_hls(*(int(colours[r["regime_name"]][i:i + 2], 16) / 255
                                                    for i in (1, 3, 5))) for r in cat}
    by_trend: dict[str, set[int]] = {}
    for r in cat:
        by_trend.setdefault(r["trend_class"], set()).add(round(hls[r["regime_name"]][0] * 360) % 360)
    assert all(max(h) - min(h) <= 2 for h in by_trend.values())  # one hue per trend class
    assert len({min(h) for h in by_trend.values()}) == len(by_trend)
    for trend in by_trend:
        light = {r["volatility_class"]: hls[r["regime_name"]][1] for r in cat if r["trend_class"] == trend}
        assert light["Low"] > light["Medium"] > light["High"]


def test_display_catalogue_keeps_the_workbook_colour_alongside() -> None:
    cat = {"regimes": regime_catalogue_of(default_params()), "version_id": None}
    shown = with_display_colours(cat)
    assert shown["regimes"][0]["workbook_color"] == cat["regimes"][0]["color"]
    assert shown["regimes"][0]["color"] == regime_colours(cat["regimes"])[cat["regimes"][0]["regime_name"]]
    extra = [*cat["regimes"], {"regime_name": "Crash", "trend_class": "Crash", "volatility_class": "Extreme"}]
    assert len(set(regime_colours(extra).values())) == len(extra)  # unknown classes still get their own colour
