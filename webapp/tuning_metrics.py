"""The PerformanceMetrics scorecard's /metrics series (issue 16), from the scorecard the engine stored."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric


def scorecard_families(card: dict[str, Any] | None) -> Iterable[Metric]:
    """regimedesk_scorecard_overall, _value{metric}, _grade{metric} from the stored scorecard."""
    if not card:
        return
    yield GaugeMetricFamily("regimedesk_scorecard_overall", "weighted PerformanceMetrics score, 0..1",
                            value=float(card["overall"]) if card.get("overall") is not None else float("nan"))
    value = GaugeMetricFamily("regimedesk_scorecard_value", "live value of a PerformanceMetrics metric", labels=["metric"])
    grade = GaugeMetricFamily("regimedesk_scorecard_grade", "grade of a metric: 1 at target, 0 at critical",
                              labels=["metric"])
    for m in card["metrics"]:
        if m["value"] is not None:
            value.add_metric([m["metric"]], float(m["value"]))
            grade.add_metric([m["metric"]], float(m["grade"]))
    yield value
    yield grade
