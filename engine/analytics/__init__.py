"""Performance analytics shared by backtests and the live Performance page (metrics, round trips, periods)."""
from engine.analytics.definitions import METRIC_DEFINITIONS, definitions_for
from engine.analytics.grid import ReturnGrid, choose_grid, on_grid
from engine.analytics.metrics import compute_metrics, drawdown_duration
from engine.analytics.periods import infer_periods_per_year
from engine.analytics.round_trips import MetricsError, open_lots, round_trips

__all__ = ["METRIC_DEFINITIONS", "MetricsError", "ReturnGrid", "choose_grid", "compute_metrics", "definitions_for",
           "drawdown_duration", "infer_periods_per_year", "on_grid", "open_lots", "round_trips"]
