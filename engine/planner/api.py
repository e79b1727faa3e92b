"""The planner's one import surface for the web and the command line (see /tmp contract: names are stable)."""
from __future__ import annotations

from engine.planner.cache_key import plan_cache_key
from engine.planner.close import CANCELED_ONLY, ClosePreview, close_position, close_preview
from engine.planner.execute import SendOutcome, send_plan
from engine.planner.plan_store import StoredPlan, recent_plans, store_plan
from engine.planner.planner import Planner, build_planner
from engine.planner.portfolio import portfolio_state
from engine.planner.preset import BUILT_IN_PRESETS, PlannerPreset, PresetError, compose_preset, load_preset
from engine.planner.preset_store import (
    PresetVersion,
    diff_presets,
    list_presets,
    preset_for_regime,
    preset_versions,
    regime_preset_table,
    restore_preset_version,
    save_user_preset,
    set_regime_preset_table,
)
from engine.planner.sliders import SLIDERS, SliderSpec
from engine.planner.turnover_anchor import EXPLANATION as TURNOVER_ANCHOR_EXPLANATION
from engine.planner.types import Holding, PlanResult, PlanStep, PortfolioState, SequenceSummary

__all__ = [
    "BUILT_IN_PRESETS", "CANCELED_ONLY", "SLIDERS", "ClosePreview", "TURNOVER_ANCHOR_EXPLANATION", "Holding", "PlanResult", "PlanStep", "Planner", "PlannerPreset", "PortfolioState",
    "PresetError", "PresetVersion", "SendOutcome", "SequenceSummary", "SliderSpec", "StoredPlan", "build_planner",
    "close_position", "close_preview", "compose_preset", "diff_presets", "list_presets", "load_preset", "plan_cache_key", "portfolio_state", "preset_for_regime",
    "preset_versions", "recent_plans", "regime_preset_table", "restore_preset_version", "save_user_preset",
    "send_plan", "set_regime_preset_table", "store_plan",
]
