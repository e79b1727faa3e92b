"""The health check of this engine's notifications: whether the pages it sends (unhealthy checks, halts, the
dead-man's switch) reach anyone. A notifier that could not be set up, or targets that stopped taking messages,
were only log lines: the Health page said nothing while nobody was being paged."""
from __future__ import annotations

from engine import notify
from engine.health.grades import DEGRADED, HEALTHY, UNHEALTHY, CheckResult
from engine.notify_delivery import FAILED

NAME = "notifications"


def check_notifications(notifier: notify.Notifier | None = None) -> CheckResult:
    """Unhealthy when nothing can be sent (set-up failed, or every target's newest message failed); degraded when
    some target's newest message failed; off (healthy, said so) when no target is configured. The value is the
    number of messages given up since the process started."""
    n = notifier if notifier is not None else notify.current()
    if n.error:
        return CheckResult(NAME, UNHEALTHY, f"OFF: {n.error}; nothing is sent. Fix REGIMEDESK_NOTIFY_URLS and "
                                            "restart the engine", 0.0)
    if not n.enabled:
        return CheckResult(NAME, HEALTHY, "off: no targets configured (REGIMEDESK_NOTIFY_URLS)", 0.0)
    counts = (f"{n.delivered} delivered, {n.failed} failed, {n.unconfirmed} unconfirmed, {n.dropped} dropped "
              "since the engine started")
    failing = [worker.shown for worker in n.workers if worker.last_outcome == FAILED]
    if not failing:
        return CheckResult(NAME, HEALTHY, f"{len(n.workers)} target(s); {counts}", float(n.failed))
    status = UNHEALTHY if len(failing) == len(n.workers) else DEGRADED
    return CheckResult(NAME, status, f"the newest message to {', '.join(failing)} was not delivered "
                                     f"({len(failing)} of {len(n.workers)} target(s)); {counts}", float(n.failed))
