"""The Health page's text sparkline: one block per result, height by value, colour by status, one span per run of
equal statuses (the page refreshes every two seconds; a span per point was ~1,400 components a refresh)."""
from __future__ import annotations

from components.sparkline import sparkline


def test_blocks_by_value_and_spans_by_status_runs() -> None:
    points = [("healthy", 0.0), ("healthy", 7.0), ("degraded", 3.0), ("degraded", None), ("healthy", 7.0)]
    spark = sparkline(points, id="s")
    # values 0..7 map one to one onto the eight blocks; None sits at the bottom
    assert [(s.children, s.className) for s in spark.children] == [
        ("▁█", "text-success"), ("▄▁", "text-warning"), ("█", "text-success")]
    assert spark.title == "5 results, oldest first" and spark.id == "s"
    assert sparkline([]).children == []
