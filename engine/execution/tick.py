"""The execution step of every market tick: protective stops (the engine's check, then the broker-side orders),
then sliced parents, then the pending cancels of stopped parents' children (called by engine/cycle.py)."""
from __future__ import annotations

import logging
from collections.abc import Sequence

from engine.context import EngineContext
from engine.execution.child_cancels import retry_child_cancels
from engine.execution.modes import ExecutionConfigError, PresetExecution, for_preset, load_config
from engine.execution.native_stops import record_native_fills, sync_native
from engine.execution.parents import work_parents
from engine.execution.protect import StopEvent, check_stops
from engine.market.types import Bar
from engine.planner.preset_store import list_presets, regime_preset_row
from engine.protocols import StoreContext
from engine.store.current_regime import current_regime

log = logging.getLogger(__name__)


def active_preset_name(ctx: StoreContext) -> str:
    """The preset the planner uses now (its regime -> preset table); a user preset answers with its base
    preset's name when config/execution.toml has no table for it. "default" when it cannot be read."""
    try:
        listed = load_config()
        with ctx.store.read() as s:
            current = current_regime(s)  # the effective regime: no entry (default) while it is uncertain
            regime = current.regime_name if current is not None else None
            row = regime_preset_row(s, regime) if regime else None
            name = row.preset if row is not None else "default"
            if name in listed or name == "default":
                return name
            preset = list_presets(s).get(name)
        return preset.base if preset is not None and preset.base else "default"
    except Exception:  # noqa: BLE001 - the planner's presets cannot be read: the defaults of "default" are safe
        log.debug("could not read the planner's preset; execution defaults of 'default' apply", exc_info=True)
        return "default"


def preset_execution(ctx: StoreContext) -> PresetExecution | None:
    try:
        return for_preset(active_preset_name(ctx))
    except ExecutionConfigError as exc:  # a bad file never stops stops: stops already attached still run
        log.error("execution settings ignored: %s", exc)
        return None


def on_market_tick(ctx: EngineContext, bars: Sequence[Bar]) -> list[StopEvent]:
    """Check every protective stop against the tick's bars, then work every active parent."""
    config = preset_execution(ctx)
    for line in record_native_fills(ctx):  # first: a stop the broker filled is not the engine's to fire
        log.info("%s", line)
    events = check_stops(ctx, bars, config.stops if config is not None else None)
    for event in events:
        if event.what != "done":
            log.warning("stop %s %s: %s", event.symbol, event.what, event.detail, extra={"symbol": event.symbol})
    try:  # after the check: a stop that just fired gets no new broker-side order
        for line in sync_native(ctx):
            log.info("%s", line)
    except Exception:  # noqa: BLE001 - the engine's own check still protects; parents still run
        log.exception("broker-side stops not kept in step this tick; the engine's own check protects the positions")
    for line in work_parents(ctx):
        log.info("%s", line)
    for line in retry_child_cancels(ctx):  # a stopped parent's child the broker would not cancel yet: asked again
        log.info("%s", line)
    return events


