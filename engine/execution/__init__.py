"""Execution: protective exits per position (stops) and sliced parent orders (TWAP, VWAP, participation)."""
