"""Ids of the Health page (values are the DOM ids the browser tests use)."""

CHECKS = "health-checks"
CLOCK = "health-clock"
ENGINES = "health-engines"
INTERVAL = "health-interval"
JOBS = "health-jobs"
OVERALL = "health-overall"
OVERALL_STATUS = "health-overall-status"

# Pattern-matching id types: {"type": TYPE, <key>: ...}
ENGINE_LIVENESS = "health-engine-liveness"
SPARK = "health-spark"
