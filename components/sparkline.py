"""A text sparkline: one block character per stored result, its height the value, its colour the status.

Plain spans (no plotly figure per check), one per run of results with the same status (so mostly one per
check), so a Health page with thirty-odd checks of forty points refreshing every two seconds stays light: a span
per point made ~1,400 components a refresh and kept the browser tab's script busy nearly all the time.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import html

BLOCKS = "▁▂▃▄▅▆▇█"
STATUS_CLASS = {"healthy": "text-success", "degraded": "text-warning", "unhealthy": "text-danger"}


def spark_levels(values: Sequence[float | None]) -> list[int]:
    """Each value's block index 0..7 between the series' min and max (None and flat series sit at the bottom)."""
    present = [v for v in values if v is not None]
    if not present:
        return [0] * len(values)
    low, high = min(present), max(present)
    span = high - low
    return [0 if v is None or span == 0 else round((v - low) / span * (len(BLOCKS) - 1)) for v in values]


def sparkline(points: Sequence[tuple[str, float | None]], id: str | dict | None = None) -> html.Span:
    """points: (status, value) oldest first."""
    levels = spark_levels([value for _status, value in points])
    kwargs: dict[str, Any] = {"id": id} if id is not None else {}
    runs: list[tuple[str, str]] = []  # (status, its blocks) for each run of equal statuses, oldest first
    for (status, _value), level in zip(points, levels, strict=True):
        if runs and runs[-1][0] == status:
            runs[-1] = (status, runs[-1][1] + BLOCKS[level])
        else:
            runs.append((status, BLOCKS[level]))
    return html.Span([html.Span(blocks, className=STATUS_CLASS.get(status, "text-secondary")) for status, blocks in runs],
                     className="font-monospace", title=f"{len(points)} results, oldest first", **kwargs)
