"""Performance analytics shared by backtests and the live Performance page (metrics, round trips, periods)."""
from engine.analytics.definitions import METRIC_DEFINITIONS, definitions_for
from engine.analytics.metrics import compute_metrics, drawdown_duration
from engine.analytics.periods import infer_periods_per_year
from engine.analytics.round_trips import MetricsError, open_lots, round_trips

__all__ = ["METRIC_DEFINITIONS", "MetricsError", "compute_metrics", "definitions_for", "drawdown_duration",
           "infer_periods_per_year", "open_lots", "round_trips"]
