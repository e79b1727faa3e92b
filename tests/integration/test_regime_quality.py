"""Detection quality against the simulated market's true regime path (figures printed with -s)."""
from __future__ import annotations

from engine.params import default_params
from engine.regime.quality import run_simulated

PS = default_params()


def test_quality_beats_constant_baseline_price_only() -> None:
    rep = run_simulated(PS, seed=7, minutes=8000)
    print("\n[regime quality, price only, seed 7]\n  " + "\n  ".join(rep.lines()))
    assert rep.trend_match > rep.trend_baseline + 0.05
    assert rep.vol_match > rep.vol_baseline + 0.10
    assert 0.5 < rep.transitions_per_session <= 6.0  # StabilityConfiguration max_transitions_per_day


def test_quality_with_option_chains() -> None:
    rep = run_simulated(PS, seed=21, minutes=1500, with_chains=True)
    print("\n[regime quality, with chains, seed 21]\n  " + "\n  ".join(rep.lines()))
    assert rep.trend_match > rep.trend_baseline
    assert rep.vol_match > rep.vol_baseline
