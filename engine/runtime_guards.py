"""ValidationRules VAL010 trigger_gc and VAL011 reduce_computation: the engine process's own limits.

Both are checked once per regime cycle (engine/regime_stage.py RegimeStage.run), with the limits of the active
parameter version (engine/regime/config.py RuntimeLimits: a number in the condition, else PerformanceMetrics
memory_usage / computation_time `acceptable`, else DEFAULT_MEMORY_MB / DEFAULT_LATENCY_MS).

trigger_gc: when the process's resident memory (RSS, MB of 10^6 bytes as the health page's memory check shows
it) is above the limit, ``gc.collect()`` runs, at most once per GC_EVERY_S (a full collection of a large heap
takes tens of milliseconds; memory held by live objects does not go away by collecting again). Logged with the
RSS before and after; counted (``gc_runs``). glibc's malloc_trim is not called: engine/malloc_arenas.py offers
only the arena cap.

reduce_computation: when a regime cycle (classify + ensemble + store) per bar it classified (milliseconds per
update, as PerformanceMetrics computation_time counts: a catch-up cycle of many bars is not a slow one) is over
the limit, the following cycles skip the optional, costly part: the ensemble's second layer (model verdicts; its
stepper still sees each row, so its feature history stays complete, but its HMM filter and calibration do not
advance), and the effective regime is the rule-based one with a reason naming the rule. (The multi-timeframe
module is not skipped: its slope feeds every trend class, so skipping it would change the regime itself.) It recovers after RECOVER_CYCLES
consecutive reduced cycles within the limit (a reduced cycle is cheaper, so one fast cycle proves little); a
full cycle over the limit reduces again. Logged on each change; the health check's regime detail says so.
"""
from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

from engine.regime.config import RuntimeLimits

log = logging.getLogger(__name__)

GC_EVERY_S = 300.0  # at most one triggered collection per 5 minutes
RECOVER_CYCLES = 5  # reduced cycles within the latency limit before the full cycle runs again


def rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / 1e6


@dataclass
class RuntimeGuards:
    """The per-process state of both rules (one engine process, one set; `GUARDS`)."""

    limits: RuntimeLimits = field(default_factory=lambda: RuntimeLimits(None, None))
    enabled: bool = True  # False in a backtest: its output must not depend on how fast the machine ran it
    rss: Callable[[], float] = rss_mb
    collect: Callable[[], object] = gc.collect
    clock: Callable[[], float] = time.monotonic
    gc_runs: int = 0
    last_gc_at: float | None = None
    last_gc: str = ""
    reduced: bool = False
    reduced_cycles: int = 0  # cycles run reduced, ever
    fast_streak: int = 0
    last_latency_ms: float | None = None
    reason: str = ""

    def check_memory(self) -> bool:
        """VAL010: collect when RSS is over the limit and the last collection is GC_EVERY_S old; True when it ran."""
        limit = self.limits.memory_mb
        if limit is None or not self.enabled:
            return False
        now = self.clock()
        if self.last_gc_at is not None and now - self.last_gc_at < GC_EVERY_S:
            return False
        before = self.rss()
        if before <= limit:
            return False
        self.collect()
        after = self.rss()
        self.gc_runs += 1
        self.last_gc_at = now
        self.last_gc = (f"garbage collection #{self.gc_runs}: RSS {before:.0f} MB over {limit:g} MB, "
                        f"{after:.0f} MB after{self.limits.memory_tag}")
        log.warning("%s", self.last_gc)
        return True

    def observe_latency(self, ms: float) -> None:
        """VAL011: one cycle's duration; decides whether the next cycles run reduced."""
        self.last_latency_ms = ms
        limit = self.limits.latency_ms if self.enabled else None
        if limit is None:
            if self.reduced:
                self._full("the rule is off")
            return
        if not self.reduced:
            if ms > limit:
                self.reduced, self.fast_streak = True, 0
                self.reason = (f"regime cycle took {ms:.0f} ms per bar, over {limit:g} ms: ensemble skipped"
                               f"{self.limits.latency_tag}")
                log.warning("reduced computation: %s", self.reason)
            return
        self.reduced_cycles += 1
        self.fast_streak = self.fast_streak + 1 if ms <= limit else 0
        if self.fast_streak >= RECOVER_CYCLES:
            self._full(f"{RECOVER_CYCLES} cycles within {limit:g} ms")

    def _full(self, why: str) -> None:
        self.reduced, self.fast_streak, self.reason = False, 0, ""
        log.info("reduced computation ended (%s): the ensemble runs again", why)

    def summary(self) -> str:
        """A health-detail line ('' when neither rule has acted)."""
        parts = []
        if self.reduced:
            parts.append(f"reduced computation: {self.reason}")
        if self.gc_runs:
            parts.append(self.last_gc)
        return "; ".join(parts)


GUARDS = RuntimeGuards()
