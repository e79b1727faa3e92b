"""Performance metrics of an equity curve and its fills: one function for backtests and the live account.

Return metrics come from empyrical-reloaded (`import empyrical`) on per-bar simple returns; trade
metrics from first-in first-out round trips (round_trips.py). Every key is defined in
definitions.METRIC_DEFINITIONS. Undefined values (a Sharpe ratio of two bars, a profit factor without a
losing trade, a CAGR over less than a year) are None, so the dict is valid JSON as it is.
"""
from __future__ import annotations

import math

import empyrical
import numpy as np
import pandas as pd

from engine.analytics.definitions import METRIC_DEFINITIONS, definitions_for
from engine.analytics.round_trips import MetricsError, normalise_fills, position_path, round_trips

__all__ = ["METRIC_DEFINITIONS", "MetricsError", "compute_metrics", "definitions_for", "drawdown_duration"]
NO_REGIME = "(none)"
FLAT_RETURNS = 1e-12  # per-bar returns this close together are one constant return (rounding residue)


def _num(value: float | np.floating | None) -> float | None:
    """A finite float, or None for NaN / infinity."""
    if value is None:
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def _positive_finite(value: object) -> bool:
    try:
        number = float(value)  # type: ignore[arg-type]  # any object may come in: float() refusing it is the check
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and number > 0


def _utc(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")


def _check_equity(equity: pd.Series, *, positive: bool = True) -> pd.Series:
    """The curve as UTC-indexed floats; `positive=False` lets values <= 0 through (solvency.py decides on them)."""
    if not isinstance(equity, pd.Series) or len(equity) == 0:
        raise MetricsError("equity: an empty series; at least one account value is needed")
    if not isinstance(equity.index, pd.DatetimeIndex):
        raise MetricsError("equity: the index must be timestamps (market time)")
    values = pd.to_numeric(equity, errors="coerce").astype("float64")
    if values.isna().any():
        raise MetricsError(f"equity: missing or non-numeric value at {values.index[values.isna()][0]}")
    infinite = ~np.isfinite(values.to_numpy())
    if infinite.any():
        raise MetricsError(f"equity: value {values[infinite].iloc[0]} at {values.index[infinite][0]} is not finite")
    if positive and (values <= 0).any():
        raise MetricsError(f"equity: value {values[values <= 0].iloc[0]} at {values.index[values <= 0][0]} "
                           "is not positive; returns are undefined")
    if not values.index.is_monotonic_increasing:
        raise MetricsError("equity: timestamps are not in increasing order")
    if not values.index.is_unique:
        raise MetricsError(f"equity: timestamp {values.index[values.index.duplicated()][0]} appears more than once; "
                           "one account value per time is needed")
    return pd.Series(values.to_numpy(), index=_utc(pd.DatetimeIndex(values.index)), name="equity")


def drawdown_duration(equity: pd.Series) -> tuple[int, float]:
    """Longest spell under the running peak: (bars from the peak to recovery or the end, calendar days)."""
    values = equity.to_numpy(dtype="float64")
    if len(values) < 2:
        return 0, 0.0
    peak = np.maximum.accumulate(values)
    peak_pos = np.maximum.accumulate(np.where(values >= peak, np.arange(len(values)), 0))
    under = values < peak
    best_bars, best_days = 0, 0.0
    i, n = 0, len(values)
    while i < n:
        if not under[i]:
            i += 1
            continue
        start = peak_pos[i]
        j = i
        while j < n and under[j]:
            j += 1
        end = min(j, n - 1)  # the recovery bar, or the last bar when equity never recovered
        if end - start > best_bars:
            best_bars = int(end - start)
            best_days = (equity.index[end] - equity.index[start]) / pd.Timedelta(days=1)
        i = j
    return best_bars, float(best_days)


def _asof(times: pd.Index, series: pd.Series, default: object) -> np.ndarray:
    """The value of `series` in force at each time (last value at or before it), `default` before the first."""
    if series is None or len(series) == 0:
        return np.full(len(times), default, dtype=object)
    s = pd.Series(series.to_numpy(), index=_utc(pd.DatetimeIndex(series.index))).sort_index(kind="stable")
    pos = s.index.searchsorted(_utc(pd.DatetimeIndex(times)), side="right") - 1
    out = s.to_numpy(dtype=object)[np.clip(pos, 0, None)]
    out[pos < 0] = default
    return out


def _trade_stats(trips: pd.DataFrame) -> dict[str, float | int | None]:
    pnl = trips["pnl"]
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    return {
        "win_rate": _num(len(wins) / len(pnl)) if len(pnl) else None,
        "profit_factor": _num(wins.sum() / -losses.sum()) if len(losses) else None,
        "avg_win": _num(wins.mean()) if len(wins) else None,
        "avg_loss": _num(losses.mean()) if len(losses) else None,
        "trades": len(pnl),
    }


def _per_regime(equity: pd.Series, returns: pd.Series, trips: pd.DataFrame,
                regimes: pd.Series | None) -> dict[str, dict[str, float | int | None]]:
    """Bar returns go to the regime in force at the start of the bar (known then: no look-ahead); a round trip
    goes to the bar its exit falls in, so its count lands with the P&L of that bar.

    A bar's row at time t is the state after the bar closed, and a fill stamped t happened within the period
    that ends at t: it belongs to the period (t-1, t], whose regime is the one stamped t-1. An exit at or
    before the first row counts in the first period, one after the last row in the last."""
    if regimes is None or len(returns) == 0:
        return {}
    start_regime = _asof(equity.index[:-1], regimes.astype(str), NO_REGIME)
    pnl = np.diff(equity.to_numpy())
    exits = _utc(pd.DatetimeIndex(trips["exit_ts"]))
    period = np.clip(equity.index.searchsorted(exits, side="left") - 1, 0, len(start_regime) - 1)
    exit_regime = start_regime[period]
    out: dict[str, dict[str, float | int | None]] = {}
    for name in pd.unique(start_regime):
        mask = start_regime == name
        out[str(name)] = {
            "time_share": _num(mask.mean()), "pnl": _num(pnl[mask].sum()),
            "return": _num(np.prod(1.0 + returns.to_numpy()[mask]) - 1.0),
            "trades": int((exit_regime == name).sum()),
        }
    return out


def _exposure(equity: pd.Series, fills: pd.DataFrame,
              gross_exposure: pd.Series | None) -> tuple[float | None, float | None]:
    """(time invested, average gross exposure / equity) over the bars that start a return period."""
    starts = equity.index[:-1]
    if len(starts) == 0:
        return None, None
    if gross_exposure is not None:
        gross = pd.to_numeric(gross_exposure, errors="coerce").astype("float64").abs()
        at_start = np.asarray(_asof(starts, gross, 0.0), dtype="float64")
        return _num((at_start > 0).mean()), _num((at_start / equity.to_numpy()[:-1]).mean())
    path = position_path(fills)
    held = np.asarray(_asof(starts, pd.Series(path["open_symbols"].to_numpy(), index=path["ts"]), 0),
                      dtype="float64")
    return _num((held > 0).mean()), None  # without position values the average gross exposure is unknown


def compute_metrics(equity: pd.Series, fills: pd.DataFrame | None, regimes: pd.Series | None,
                    periods_per_year: float, risk_free: float = 0.0, *,
                    gross_exposure: pd.Series | None = None,
                    trips: pd.DataFrame | None = None) -> dict[str, object]:
    """All metrics of one equity curve (indexed by market time) and its fills (ts,symbol,side,qty,price,commission).

    `regimes`: regime names indexed by the time they took force (any spacing; as-of joined), or None.
    `risk_free`: an annual rate. `gross_exposure`: sum of |position value| per time, if known (the account
    snapshots and backtests have it); without it time invested comes from the fills and the average gross
    exposure is None. `trips`: round trips matched beforehand (the live page matches over the fills before
    its range too, so a trip opened before the range and closed in it counts); by default those of `fills`.
    CAGR and Calmar are given only over a year or more (annualising a short window raises its growth to a large
    power: the tuner's fold scores use return over drawdown instead, engine/tuning/backtest_validation.py).
    """
    if not _positive_finite(periods_per_year):
        raise MetricsError(f"periods_per_year must be positive, got {periods_per_year!r}")
    eq = _check_equity(equity)
    fl = normalise_fills(fills)
    trips = round_trips(fl) if trips is None else trips
    returns = eq.pct_change().iloc[1:]
    flat = len(returns) > 1 and float(np.ptp(returns.to_numpy())) <= FLAT_RETURNS
    if flat:
        returns = pd.Series(float(returns.mean()), index=returns.index)  # rounding residue, not dispersion
    rf_pp = (1.0 + risk_free) ** (1.0 / periods_per_year) - 1.0
    ann = periods_per_year
    has_returns = len(returns) > 0
    a_year = has_returns and len(returns) >= ann  # shown only over a year or more (GIPS)
    dd_bars, dd_days = drawdown_duration(eq)
    time_invested, avg_gross = _exposure(eq, fl, gross_exposure)
    traded = float((fl["qty"] * fl["price"]).abs().sum())
    metrics: dict[str, object] = {
        "total_return": _num(eq.iloc[-1] / eq.iloc[0] - 1.0),
        "cagr": _num(empyrical.cagr(returns, annualization=ann)) if a_year else None,
        "volatility": 0.0 if flat else _num(empyrical.annual_volatility(returns, annualization=ann)),
        "sharpe": _num(empyrical.sharpe_ratio(returns, risk_free=rf_pp, annualization=ann)),
        "sortino": _num(empyrical.sortino_ratio(returns, required_return=rf_pp, annualization=ann)),
        "calmar": _num(empyrical.calmar_ratio(returns, annualization=ann)) if a_year else None,
        "max_drawdown": _num(empyrical.max_drawdown(returns)) if has_returns else 0.0,
        "max_drawdown_duration": dd_bars,
        "max_drawdown_duration_days": dd_days,
        **_trade_stats(trips),
        "exposure": time_invested,
        "avg_gross_exposure": avg_gross,
        "turnover": _num(traded / float(eq.mean())),
        "fills": len(fl),
        "commission": _num(fl["commission"].sum()),
        "periods_per_year": float(periods_per_year),
        "risk_free": float(risk_free),
        "per_regime": _per_regime(eq, returns, trips, regimes),
    }
    return metrics
