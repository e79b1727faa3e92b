"""Backtests: the live engine's own jobs replayed bar by bar over history on a simulated clock.

inputs (what a run depends on, one-line errors) -> runner (the bar loop over a private store) ->
outputs (CSV/JSON files, metrics via engine.analytics) -> runs (stored runs in the shared store).
`python -m engine backtest --help` for the command line; pages/backtest.py for the dashboard.
"""
