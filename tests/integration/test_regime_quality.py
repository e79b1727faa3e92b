"""Detection quality against the simulated market's true regime path (figures printed with -s)."""
from __future__ import annotations

import pytest

from engine.params import default_params
from engine.regime.quality import run_simulated
from engine.regime.quality_daily import DailyQuality, daily_frame, measure, transitions_band
from engine.regime.testing import edited

PS = default_params()


def test_quality_beats_constant_baseline_price_only() -> None:
    rep = run_simulated(PS, seed=7, minutes=8000)
    print("\n[regime quality, price only, seed 7]\n  " + "\n  ".join(rep.lines()))
    assert rep.trend_match > rep.trend_baseline + 0.05
    assert rep.vol_match > rep.vol_baseline + 0.10
    assert 0.5 < rep.transitions_per_session <= 6.0  # StabilityConfiguration max_transitions_per_day


def test_quality_with_option_chains() -> None:
    rep = run_simulated(PS, seed=21, minutes=6000, with_chains=True)  # regimes last hours: 1,500 minutes is ~2 true changes
    print("\n[regime quality, with chains, seed 21]\n  " + "\n  ".join(rep.lines()))
    assert rep.trend_match > rep.trend_baseline
    assert rep.vol_match > rep.vol_baseline


# -- issue 15 point 5: real daily data and the workbook's transitions band (bench: python -m bench.bench_regime_quality)

EPISODE_DAYS = 6  # trading days from an episode's first 2 % loss to the first High bar class (Jan 2016 needs 6)
CALM_HIGH_SHARE = 0.05  # at most 5 % of a calm year's days read High


@pytest.fixture(scope="module")
def daily_quality() -> DailyQuality:
    sp500 = pytest.importorskip("arch.data.sp500")
    q = measure(daily_frame(sp500.load()), PS)
    print("\n[regime quality, S&P 500 daily, adaptive thresholds]\n  " + "\n  ".join(q.lines()))
    return q


def test_stress_episodes_read_high_volatility_within_days(daily_quality: DailyQuality) -> None:
    late = [(e.name, e.bar_days) for e in daily_quality.episodes if e.bar_days is None or e.bar_days > EPISODE_DAYS]
    assert late == [], f"episodes not read High within {EPISODE_DAYS} trading days: {late}"


def test_adopted_regime_follows_the_bar_class_within_a_day(daily_quality: DailyQuality) -> None:
    """The stability rules adopt the High class at most one trading day after the bar reads it
    (confirmation counted in one-minute bars, spike days counting toward higher volatility)."""
    slow = [(e.name, e.bar_days, e.adopted_days) for e in daily_quality.episodes
            if e.adopted_days is None or e.bar_days is None or e.adopted_days > e.bar_days + 1]
    assert slow == [], f"adopted more than one trading day after the bar class: {slow}"


def test_calm_years_are_not_read_high(daily_quality: DailyQuality) -> None:
    loud = {y: s for y, s in daily_quality.calm_high_share.items() if s > CALM_HIGH_SHARE}
    assert loud == {}, f"calm years read High on more than {CALM_HIGH_SHARE:.0%} of days: {loud}"


def test_workbook_thresholds_alone_miss_the_episodes() -> None:
    """The measure can fail: with enable_adaptive_thresholds FALSE most episodes never read High (issue 15)."""
    sp500 = pytest.importorskip("arch.data.sp500")
    q = measure(daily_frame(sp500.load()), edited(PS, {("StabilityConfiguration", "enable_adaptive_thresholds"): False}))
    assert sum(e.bar_days is None for e in q.episodes) >= 3


def test_transitions_per_session_within_the_workbook_band() -> None:
    lo, _target, hi = transitions_band(PS)
    rep = run_simulated(PS, seed=7, minutes=8000)
    assert lo <= rep.transitions_per_session <= hi
