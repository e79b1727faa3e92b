"""Metrics of an equity curve that is not positive everywhere: an unfunded account, or one wiped out.

A return from equity 0 or below has no meaning, so compute_metrics refuses such a curve. The pages and the
backtest files must still show everything else, so the rule here is:

- equity <= 0 only at the start (a live account that reports 0 until it is funded): the return metrics are
  measured from the first positive value on, as if the history began there; nothing before it is a return;
- equity <= 0 after a positive value (a margin wipe-out; a later deposit does not undo it): every return
  metric is blank (None), since a curve through zero compounds to nothing and any figure around the gap would
  mislead. What stays defined stays: max drawdown (the fall from the running positive peak, -100% or deeper),
  the trade statistics, fills, commission, time invested, and P&L and time share per regime.
A note says which rule applied and from when.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.analytics.metrics import (
    _check_equity,
    _exposure,
    _num,
    _per_regime,
    _trade_stats,
    compute_metrics,
)
from engine.analytics.round_trips import MetricsError, normalise_fills, round_trips

BLANK_KEYS = ("total_return", "cagr", "volatility", "sharpe", "sortino", "calmar", "max_drawdown_duration",
              "max_drawdown_duration_days", "avg_gross_exposure", "turnover")


def max_drawdown_from_peak(values: np.ndarray) -> float | None:
    """The deepest fall from the running peak, counted once the peak is positive (None before it ever is)."""
    peak = np.maximum.accumulate(values)
    positive = peak > 0
    if not positive.any():
        return None
    return min(_num(float((values[positive] / peak[positive] - 1.0).min())) or 0.0, 0.0)


def metrics_with_note(equity: pd.Series, fills: pd.DataFrame | None, regimes: pd.Series | None,
                      periods_per_year: float, risk_free: float = 0.0, *,
                      gross_exposure: pd.Series | None = None,
                      trips: pd.DataFrame | None = None) -> tuple[dict[str, object], str | None]:
    """compute_metrics under the module's rule: (metrics, None) for a positive curve, else (metrics, note)."""
    values = _check_equity(equity, positive=False)
    positive = (values > 0).to_numpy()
    if positive.all():
        return compute_metrics(equity, fills, regimes, periods_per_year, risk_free, gross_exposure=gross_exposure,
                               trips=trips), None
    first = int(np.argmax(positive)) if positive.any() else len(values)
    if first < len(values) and positive[first:].all():
        since = values.index[first]
        metrics = compute_metrics(values.iloc[first:], fills, regimes, periods_per_year, risk_free,
                                  gross_exposure=gross_exposure, trips=trips)  # gross is joined as of each time
        return metrics, (f"equity was {values.iloc[first - 1]:,.2f} (not positive) until {since:%Y-%m-%d %H:%M}: "
                         "return metrics are measured from the first positive equity on")
    bad = int(np.argmax(~positive[first:])) + first if first < len(values) else 0
    metrics = _blank(values, fills, regimes, periods_per_year, risk_free, gross_exposure, trips)
    return metrics, (f"equity fell to {values.iloc[bad]:,.2f} at {values.index[bad]:%Y-%m-%d %H:%M}: returns "
                     "from zero or negative equity are undefined, so the return metrics are blank "
                     "(max drawdown, trades, fills and commission are still shown)")


def _blank(eq: pd.Series, fills: pd.DataFrame | None, regimes: pd.Series | None, periods_per_year: float,
           risk_free: float, gross_exposure: pd.Series | None, trips: pd.DataFrame | None) -> dict[str, object]:
    """The metrics that stay defined on a curve through zero; the others None (see the module's rule)."""
    if not (np.isfinite(periods_per_year) and periods_per_year > 0):
        raise MetricsError(f"periods_per_year must be positive, got {periods_per_year!r}")
    fl = normalise_fills(fills)
    trips = round_trips(fl) if trips is None else trips
    with np.errstate(divide="ignore", invalid="ignore"):  # its average gross / equity is dropped: undefined
        time_invested = _exposure(eq, fl, gross_exposure)[0]
    undefined = pd.Series(np.nan, index=eq.index[1:])  # per-regime P&L and time share stay, its return does not
    metrics: dict[str, object] = dict.fromkeys(BLANK_KEYS)
    metrics.update({
        "max_drawdown": max_drawdown_from_peak(eq.to_numpy()),
        **_trade_stats(trips),
        "exposure": time_invested,
        "fills": len(fl),
        "commission": _num(fl["commission"].sum()),
        "periods_per_year": float(periods_per_year),
        "risk_free": float(risk_free),
        "per_regime": _per_regime(eq, undefined, trips, regimes),
    })
    return metrics
