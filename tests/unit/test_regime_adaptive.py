"""Adaptive class thresholds (engine/regime/adaptive.py): the documented rule against a numpy oracle,
the array path equal to the bar-by-bar one, and a cut replay equal to the full one before the cut."""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.params import default_params
from engine.regime.adaptive import AdaptiveThresholds, Thresholds, map_vol
from engine.regime.formation import Formation
from engine.regime.replay import replay
from engine.regime.testing import edited
from tests.unit.test_regime_batch import _minutes

PS = default_params()


def _series(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    v = 0.1 * np.exp(np.cumsum(rng.normal(0, 0.05, n)))
    return rng.normal(0, 0.004, n), v


def test_rule_against_a_numpy_oracle() -> None:
    """Window 100, rate 0.1, workbook boundaries 0.12 / 0.25 at the 30th / 70th percentiles: after 101 bars
    (the first full window) one step: b = a + 0.1 * (clip(0.3 a + 0.7 q, a/2, 2a) - a)."""
    ad = AdaptiveThresholds(PS, Formation(PS))
    t, v = _series(101, 3)
    for k in range(100):
        assert ad.step(float(t[k]), float(v[k])).vol_edges == (0.12, 0.25)  # window not full: the workbook's
    got = ad.step(float(t[100]), float(v[100]))
    s = np.sort(v[:100])
    for a, q, b in zip((0.12, 0.25), (s[30], s[69]), got.vol_edges, strict=True):  # nearest rank: 0.3*99 -> 30, 0.7*99 -> 69
        tgt = min(max(0.3 * a + 0.7 * q, a / 2), 2 * a)
        assert np.isclose(b, a + 0.1 * (tgt - a), rtol=1e-12)
    m = np.sort(np.abs(t[:100]))[50]
    tgt_s = min(max(0.3 + 0.7 * m / 0.003, 0.5), 2.0)
    assert np.isclose(got.trend_scale, 1.0 + 0.1 * (tgt_s - 1.0), rtol=1e-12)


def test_series_equals_steps_and_the_map_sends_boundaries_to_the_workbook() -> None:
    t, v = _series(700, 5)
    a, b = AdaptiveThresholds(PS, Formation(PS)), AdaptiveThresholds(PS, Formation(PS))
    steps = [a.step(float(x), float(y)) for x, y in zip(t, v, strict=True)]
    e1, s1 = b.series(t[:250], v[:250])  # two pieces: the carried history joins them
    e2, s2 = b.series(t[250:], v[250:])
    edges, scales = np.vstack([e1, e2]), np.r_[s1, s2]
    assert np.array_equal(edges, np.array([s.vol_edges for s in steps]))
    assert np.array_equal(scales, np.array([s.trend_scale for s in steps]))
    assert np.array_equal(map_vol(v, edges, a.abs_edges), np.array([s.vol_value(float(x)) for s, x in zip(steps, v, strict=True)]))
    last = steps[-1]
    assert last.vol_edges != (0.12, 0.25) and all(0.5 * w <= e <= 2 * w for e, w in zip(last.vol_edges, (0.12, 0.25), strict=True))
    for e, w in zip(last.vol_edges, (0.12, 0.25), strict=True):
        assert np.isclose(last.vol_value(e), w, rtol=1e-12) and np.isclose(last.vol_raw(w), e, rtol=1e-12)


def test_off_is_the_workbook() -> None:
    ad = AdaptiveThresholds(edited(PS, {("StabilityConfiguration", "enable_adaptive_thresholds"): False}), Formation(PS))
    t, v = _series(300, 7)
    assert all(ad.step(float(x), float(y)) == Thresholds((0.12, 0.25), (0.12, 0.25), 1.0, False) for x, y in zip(t, v, strict=True))
    assert ad.step(0.001, 0.2).vol_value(0.2) == 0.2 and ad.step(0.001, 0.2).trend_value(0.001) == 0.001


def test_replay_is_deterministic_and_a_cut_replay_equals_the_full_one() -> None:
    bars = _minutes(1200, seed=4)
    full = replay(bars, PS)
    again = replay(bars, PS)
    cut = replay(bars.iloc[:800], PS)
    pd.testing.assert_frame_equal(full, again)
    pd.testing.assert_frame_equal(full.iloc[:800].reset_index(drop=True), cut.reset_index(drop=True))
    off = replay(bars, edited(PS, {("StabilityConfiguration", "enable_adaptive_thresholds"): False}))
    assert (off["volatility_class_name"] != full["volatility_class_name"]).any()  # the thresholds did adapt


def test_the_regime_page_shows_the_thresholds_in_force() -> None:
    """The card's class notes name the adaptive boundaries (and the workbook's) from the snapshot's record."""
    from components.ids import regime as ids  # local import: the page layer, only for this test
    from components.regime_views import class_notes  # local import: the page layer, only for this test

    rec = {"class": "High", "value": 0.15, "lo": 0.14, "hi": 0.5, "basis": "threshold", "margin": 0.0,
           "thresholds": {"adaptive": True, "vol_edges": [0.0812, 0.1406], "workbook_vol_edges": [0.12, 0.25],
                          "trend_scale": 0.62}}
    div = class_notes({"classes": {"volatility": rec}}, None)
    shown = {c.id: c.children for c in div.children}
    assert shown[ids.CURRENT_THRESHOLDS] == ("Thresholds adaptive: volatility boundaries 8.1% / 14.1% "
                                             "(workbook 12.0% / 25.0%), trend boundaries ×0.62")
    rec["thresholds"] = {"adaptive": False}
    off = {c.id: c.children for c in class_notes({"classes": {"volatility": rec}}, None).children}
    assert off[ids.CURRENT_THRESHOLDS] == "Thresholds workbook thresholds (adaptive thresholds off)"
