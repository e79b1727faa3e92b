"""Regime quality on real and simulated data (issue 15 point 5), workbook thresholds vs adaptive ones.

Run: python -m bench.bench_regime_quality
  - S&P 500 daily 1999-2018 (arch.data.sp500): for each named stress episode (engine/regime/quality_daily.py),
    trading days from its start to the first High volatility class (bar class / adopted regime), and the
    share of calm years' days read High;
  - simulated minute market (seed 7, 8,000 minutes): transitions per session against PerformanceMetrics
    daily_transitions (target; acceptable band taken as target +- (target - acceptable)), beside the market's own
    true regime changes per session and what the workbook's RegimeParameters typical durations imply, and the
    same with the pace at its loosest (MasterConfiguration target_daily_transitions 5).
Both with StabilityConfiguration enable_adaptive_thresholds FALSE ("workbook") and as the workbook ships ("adaptive").
"""
from __future__ import annotations

import time

from engine.params import default_params
from engine.params.typed import Parameters
from engine.regime.intraday import IntradayClock
from engine.regime.quality import run_simulated
from engine.regime.quality_daily import daily_frame, measure, transitions_band
from engine.regime.testing import edited


def main() -> None:
    import arch.data.sp500  # local import: dev-only dependency (ships the real S&P 500 daily bars)

    ps = default_params()
    bars = daily_frame(arch.data.sp500.load())
    lo, target, hi = transitions_band(ps)
    for label, p in (("workbook", edited(ps, {("StabilityConfiguration", "enable_adaptive_thresholds"): False})),
                     ("adaptive", ps)):
        t0 = time.perf_counter()
        q = measure(bars, p)
        rep = run_simulated(p, seed=7, minutes=8000)
        print(f"[{label} thresholds] ({time.perf_counter() - t0:.1f} s)")
        print("  S&P 500 daily:\n    " + "\n    ".join(q.lines()))
        print(f"  simulated minutes: {rep.transitions_per_session:.2f} transitions/session "
              f"(daily_transitions target {target:.1f}, band {lo:.1f}-{hi:.1f}); trend match {rep.trend_match:.1%}, "
              f"volatility match {rep.vol_match:.1%}; the market's true regime changes "
              f"{rep.true_changes_per_session:.2f}/session")
    loose = run_simulated(edited(ps, {("MasterConfiguration", "target_daily_transitions"): 5.0}), seed=7, minutes=8000)
    print(f"pace at target_daily_transitions 5 (the loosest the workbook's range allows): "
          f"{loose.transitions_per_session:.2f} transitions/session; trend match {loose.trend_match:.1%}, "
          f"volatility match {loose.vol_match:.1%}")
    typical = [float(r.typical_duration) for r in Parameters(ps).regime_parameters.rows]
    session = IntradayClock(ps).session_minutes
    print(f"RegimeParameters typical durations {min(typical):.0f}-{max(typical):.0f} min imply "
          f"{session / max(typical):.1f}-{session / min(typical):.1f} regimes per {session:.0f}-minute session, "
          f"against daily_transitions {target:.1f} (band {lo:.1f}-{hi:.1f})")


if __name__ == "__main__":
    main()
