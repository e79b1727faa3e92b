"""The execution step of every market tick: protective stops, then sliced parents (called by engine/cycle.py)."""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from engine.execution.modes import ExecutionConfigError, PresetExecution, for_preset
from engine.execution.parents import work_parents
from engine.execution.protect import StopEvent, check_stops
from engine.market.types import Bar
from engine.store.models import KeyValue

log = logging.getLogger(__name__)
ACTIVE_PRESET_KEY = "planner.active_preset"  # the planner's store key: {"name": ..., ...}


def active_preset_name(ctx: Any) -> str:
    """The planner's active preset name ("default" when none is stored or it cannot be read)."""
    try:
        with ctx.store.read() as s:
            row = s.get(KeyValue, ACTIVE_PRESET_KEY)
        value = row.value if row is not None else None
        return str(value.get("name") or "default") if isinstance(value, dict) else "default"
    except Exception:  # noqa: BLE001 - the planner's storage is being rebuilt: defaults are safe
        log.debug("could not read the active preset; execution defaults of 'default' apply", exc_info=True)
        return "default"


def preset_execution(ctx: Any) -> PresetExecution | None:
    try:
        return for_preset(active_preset_name(ctx))
    except ExecutionConfigError as exc:  # a bad file never stops stops: stops already attached still run
        log.error("execution settings ignored: %s", exc)
        return None


def on_market_tick(ctx: Any, bars: Sequence[Bar]) -> list[StopEvent]:
    """Check every protective stop against the tick's bars, then work every active parent."""
    config = preset_execution(ctx)
    events = check_stops(ctx, bars, config.stops if config is not None else None)
    for event in events:
        if event.what != "done":
            log.warning("stop %s %s: %s", event.symbol, event.what, event.detail, extra={"symbol": event.symbol})
    for line in work_parents(ctx):
        log.info("%s", line)
    return events


def short_key(key: str, limit: int = 128) -> str:
    """An idempotency key that fits its column: long keys are hashed, short ones kept readable."""
    return key if len(key) <= limit else f"{key[:80]}#{hashlib.sha256(key.encode()).hexdigest()[:32]}"
