"""Make the engine's planner job use the run's preset(s) in the private store, through the planner's own
preset store: every non-built-in preset is saved as a user preset (base + sliders + overrides that give
exactly its parameters) and the regime -> preset table maps every regime of the run's parameters to it.

As live, the planner job uses the built-in default preset until the first regime is classified.
"""
from __future__ import annotations

from engine.context import EngineContext
from engine.planner.api import (
    BUILT_IN_PRESETS,
    PlannerPreset,
    compose_preset,
    load_preset,
    save_user_preset,
    set_regime_preset_table,
)
from engine.planner.sliders import apply_sliders

ACTOR = "system:backtest"
BASE = "default"


def _store_preset(ctx: EngineContext, preset: PlannerPreset, taken: dict[str, PlannerPreset]) -> str:
    """The name the planner job will find `preset` under in the private store."""
    if preset.name in BUILT_IN_PRESETS and load_preset(preset.name).params == preset.params:
        return preset.name
    for name, known in taken.items():
        if known.params == preset.params:
            return name
    name = preset.name if preset.name not in BUILT_IN_PRESETS else f"{preset.name} (edited)"
    while name in taken or name in BUILT_IN_PRESETS:
        name += "+"
    # stored on its own built-in base when it has one: the execution settings (stops, slicing) follow the base
    base = load_preset(preset.base if preset.base in BUILT_IN_PRESETS else BASE)
    composed = apply_sliders(base.params, preset.sliders)
    overrides = {k: v for k, v in preset.params.items() if composed.get(k) != v}
    check = compose_preset(base, preset.sliders, overrides, name=name)
    assert check.params == preset.params, "a stored preset must plan exactly like the one chosen"
    save_user_preset(ctx.store, ctx.clock.now(), ACTOR, name, base.name, preset.sliders, overrides,
                     note="backtest preset")
    taken[name] = preset
    return name


def use_presets(ctx: EngineContext, preset: PlannerPreset, regime_presets: dict[str, PlannerPreset],
                regimes: list[str]) -> dict[str, str]:
    """Store the presets and the table (every regime in `regimes` -> `preset` unless `regime_presets` says
    otherwise); returns the table."""
    taken: dict[str, PlannerPreset] = {}
    main = _store_preset(ctx, preset, taken)
    table = {regime: main for regime in regimes}
    for regime, chosen in regime_presets.items():
        table[regime] = _store_preset(ctx, chosen, taken)
    if any(name != BASE for name in table.values()):
        set_regime_preset_table(ctx.store, ctx.clock.now(), ACTOR, table)
    return table
