"""The simulated market's first bar time, on its own so the market clock (which every command-line tool loads)
does not import the simulated market and, through it, scipy."""
from __future__ import annotations

from datetime import UTC, datetime

DEFAULT_START = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
