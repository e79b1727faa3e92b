"""ValidationRules VAL010 trigger_gc and VAL011 reduce_computation: their limits (a number in the condition, else
PerformanceMetrics' acceptable level) and the guard state they drive. Hand-computed expectations."""
from __future__ import annotations

import gc

import pytest

from engine.params import default_params
from engine.params.catalog import apply_edits
from engine.regime.config import RuntimeLimits
from engine.regime.testing import edited
from engine.runtime_guards import GC_EVERY_S, RECOVER_CYCLES, RuntimeGuards, rss_mb

PS = default_params()


@pytest.mark.parametrize("gc_text,latency_text,memory_mb,latency_ms", [
    ("memory>threshold", "latency>threshold", 1000.0, 250.0),  # PerformanceMetrics memory_usage / computation_time
    ("memory>1500MB", "latency>300ms", 1500.0, 300.0),
    ("memory>1.5GB", "latency>2s", 1500.0, 2000.0),
])
def test_memory_and_latency_limits_come_from_the_condition_or_performance_metrics(
        gc_text: str, latency_text: str, memory_mb: float, latency_ms: float) -> None:
    r = apply_edits(PS, cells={("ValidationRules", "main", 9, "condition"): gc_text,
                               ("ValidationRules", "main", 10, "condition"): latency_text})
    assert r.paramset is not None, [str(i) for i in r.issues]
    limits = RuntimeLimits.of(r.paramset)
    assert (limits.memory_mb, limits.latency_ms) == (memory_mb, latency_ms)
    assert limits.memory_tag == " (VAL010 MemoryCheck, WARNING)"


def test_a_disabled_runtime_rule_has_no_limit() -> None:
    ps = edited(PS, cells={("ValidationRules", "main", 9, "enabled"): False,
                           ("ValidationRules", "main", 10, "enabled"): False})
    assert RuntimeLimits.of(ps) == RuntimeLimits(None, None, " (VAL010 MemoryCheck, WARNING)",
                                                 " (VAL011 LatencyCheck, WARNING)")


# -- VAL010 trigger_gc, VAL011 reduce_computation --------------------------------------------------------------
def test_gc_runs_over_the_memory_limit_at_most_once_per_period() -> None:
    now = [1000.0]
    collected: list[int] = []
    g = RuntimeGuards(RuntimeLimits(1.0, None, " (VAL010 MemoryCheck, WARNING)"), clock=lambda: now[0],
                      collect=lambda: collected.append(gc.collect()))
    assert rss_mb() > 1.0  # any Python process holds more than 1 MB
    assert g.check_memory() and g.gc_runs == 1 and len(collected) == 1
    now[0] += GC_EVERY_S - 1
    assert not g.check_memory() and g.gc_runs == 1
    now[0] += 1
    assert g.check_memory() and g.gc_runs == 2
    assert "over 1 MB" in g.summary() and g.summary().endswith("(VAL010 MemoryCheck, WARNING)")
    high = RuntimeGuards(RuntimeLimits(1e9, None))  # a petabyte: never reached
    assert not high.check_memory() and high.gc_runs == 0 and high.summary() == ""


def test_latency_over_the_limit_reduces_until_it_recovers() -> None:
    g = RuntimeGuards(RuntimeLimits(None, 250.0, "", " (VAL011 LatencyCheck, WARNING)"))
    g.observe_latency(200.0)
    assert not g.reduced
    g.observe_latency(400.0)
    assert g.reduced and "took 400 ms per bar, over 250 ms" in g.summary() and "VAL011" in g.summary()
    for _ in range(RECOVER_CYCLES - 1):
        g.observe_latency(100.0)
    g.observe_latency(300.0)  # one slow reduced cycle restarts the count
    for _ in range(RECOVER_CYCLES - 1):
        g.observe_latency(100.0)
    assert g.reduced and g.reduced_cycles == 2 * RECOVER_CYCLES - 1
    g.observe_latency(100.0)
    assert not g.reduced and g.summary() == ""
