"""Prometheus exposition of the health checks at /metrics (one fresh registry per scrape)."""
from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest

STATUS_VALUE = {"healthy": 0, "degraded": 1, "unhealthy": 2}


def render_metrics(report: dict[str, Any], trading_state: str | None) -> bytes:
    registry = CollectorRegistry()
    status = Gauge("regimedesk_health_status", "0 healthy, 1 degraded, 2 unhealthy", ["check"], registry=registry)
    value = Gauge("regimedesk_health_value", "the measured value behind a check (seconds, ms, MB, %)", ["check"],
                  registry=registry)
    status.labels(check="overall").set(STATUS_VALUE[report["status"]])
    for check in report["checks"]:
        status.labels(check=check["name"]).set(STATUS_VALUE[check["status"]])
        if check["value"] is not None:
            value.labels(check=check["name"]).set(check["value"])
    state = Gauge("regimedesk_trading_state", "1 for the current trading state", ["state"], registry=registry)
    for name in ("ACTIVE", "REDUCING", "HALTED", "SHUTTING_DOWN", "STOPPED"):
        state.labels(state=name).set(1 if name == trading_state else 0)
    return generate_latest(registry)
