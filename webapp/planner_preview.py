"""The Planner page's plan preview: the preset the page's controls describe, and its plan for the current
portfolio, recomputed only when an input changed.

The cache key is a hash of a cheap stamp of the store (positions, orders, fills, working parents, the newest bar,
account snapshot, regime snapshot, trading state, active parameter version, the day) and of the composed preset's
every parameter. An unchanged key answers from flask-caching (webapp/cache.py) without loading history or
planning; the plan itself stays cached long enough for **Send plan** to send exactly the plan on screen, and what
it was made on (its stamps and preset) beside it, so Send can refuse a plan the market has moved past.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.market.exchange import calendar_for_settings
from engine.params.versions import active_params, active_version_id
from engine.planner import api, preset_store
from engine.planner.api import PlannerPreset, PlanResult, PresetError
from engine.planner.send_guard import digest, portfolio_stamp
from engine.store.models import AccountSnapshot, BarRow, RegimeSnapshot, TradingStateRow
from webapp.cache import cache
from webapp.context import get_context
from webapp.planner_overrides import checked_overrides, non_switch

KEY_PREFIX = "planner-plan:"
MADE_ON = ":made-on"  # cache key suffix: what the plan under the key was computed on (MadeOn)
PLAN_TTL_SECONDS = 900  # long enough to read a plan and press Send
SLIDER_NAMES = tuple(s.name for s in api.SLIDERS)


@dataclass(frozen=True)
class MadeOn:
    """What a cached plan was computed on (cached beside it): Send rechecks the market against it, and refuses the
    plan on any portfolio but `portfolio` (a replayed request paired an old plan's key with the current stamp)."""

    market: str  # market_stamp without the trading state
    preset: PlannerPreset
    trading_state: str  # what the plan was planned under: Send's recompute plans under it too
    portfolio: str = ""  # the portfolio stamp the plan was made on (send_guard.portfolio_stamp)


@dataclass(frozen=True)
class Preview:
    """A plan and the keys it was computed under: `key` for the cache, `portfolio` to notice trades since."""

    key: str
    portfolio: str
    plan: PlanResult
    preset: PlannerPreset


def market_stamp(session: Session, today: str, with_state: bool = True) -> str:
    """What the market and the account are: newest bar, cash, regime, trading state, active parameters, the day.
    Without the trading state for Send's staleness check: a state changed after the preview does not make the plan
    stale, the send's own gate and the gateway block what the state forbids (and say so)."""
    newest_bar = session.execute(select(func.max(BarRow.ts), func.max(BarRow.id))).one()  # both indexed
    account = session.scalars(select(func.max(AccountSnapshot.id))).first()
    regime = session.scalars(select(func.max(RegimeSnapshot.id))).first()
    state = session.get(TradingStateRow, 1) if with_state else None
    return digest([list(newest_bar), account, regime, (state.state, state.changed_at) if state else None,
                   active_version_id(session), today])


def preset_stamp(preset: PlannerPreset) -> str:
    return digest([preset.name, preset.to_flat()])


def root_preset(presets: Mapping[str, PlannerPreset], name: str) -> PlannerPreset:
    """The built-in a preset is composed from (itself for a built-in): user presets are stored as base + sliders +
    overrides, so the page composes from the same base, and what it previews is what it saves."""
    preset = presets[name]
    return presets.get(preset.base, preset) if preset.base in api.BUILT_IN_PRESETS else preset


def slider_positions(sliders: object) -> dict[str, float]:
    """The page's six slider values by name; PresetError names a missing or out-of-range one."""
    if not isinstance(sliders, Sequence) or isinstance(sliders, str) or len(sliders) != len(SLIDER_NAMES):
        raise PresetError(f"Planner page: expected {len(SLIDER_NAMES)} slider values ({', '.join(SLIDER_NAMES)})")
    values: dict[str, float] = {}
    for slider, value in zip(SLIDER_NAMES, sliders, strict=True):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
            raise PresetError(f"Planner page: slider {slider} must be a number from 0 to 1, got {str(value)[:40]!r}")
        values[slider] = float(value)
    return values


def composed_preset(presets: Mapping[str, PlannerPreset], name: object, sliders: object,
                    switches: object, overrides: object = None) -> PlannerPreset:
    """The picked preset's base with the page's slider positions, switches and numeric overrides on top
    (override > slider > base); PresetError names the bad input. Named "<name> (tuned)" when it differs."""
    if not isinstance(name, str) or name not in presets:
        raise PresetError(f"Planner page: unknown preset {str(name)[:40]!r}; pick one of {', '.join(presets)}")
    values = slider_positions(sliders)
    picked, root = presets[name], root_preset(presets, name)
    fixed = {**switch_overrides(root, switches), **checked_overrides(overrides)}
    composed = api.compose_preset(root, values, fixed, name=name)
    if composed.params != picked.params or composed.sliders != picked.sliders:
        composed = replace(composed, name=f"{name} (tuned)")
    return composed


def stored_overrides(name: object) -> dict[str, object]:
    """The numeric (non-switch) overrides of user preset `name`'s newest version; {} for a built-in."""
    if not isinstance(name, str) or name in api.BUILT_IN_PRESETS:
        return {}
    with get_context().store.read() as session:
        versions = preset_store.preset_versions(session, name)
    return non_switch(versions[-1].overrides) if versions else {}


def switch_overrides(base: PlannerPreset, switches: object) -> dict[str, bool]:
    """The switches that differ from the base preset, as overrides ({"table.key": bool}); unknown keys refused."""
    if switches is None:
        return {}
    if not isinstance(switches, Mapping) or len(switches) > 200:
        raise PresetError("Planner page: the module switches are malformed; reload the page")
    flat = base.to_flat()
    out: dict[str, bool] = {}
    for key, value in switches.items():
        if not isinstance(key, str) or not isinstance(flat.get(key), bool) or not isinstance(value, bool):
            raise PresetError(f"Planner page: {str(key)[:60]!r} is not a module switch of {base.name}")
        if value != flat[key]:
            out[key] = value
    return out


def _compute(preset: PlannerPreset, trading_state: str | None = None) -> tuple[PlanResult, str]:
    """(the plan, the trading state it was planned under); `trading_state` plans as if in that state."""
    ctx = get_context()
    with ctx.store.read() as session:  # the source's exchange (Alpaca: XNYS) decides the ATR's session, as the engine's
        state = api.portfolio_state(session, active_params(session), calendar=calendar_for_settings(ctx.settings, None))
    if trading_state is not None:
        state = replace(state, trading_state=trading_state)
    return api.build_planner(preset).plan(state), state.trading_state


def preview(preset: PlannerPreset) -> Preview:
    """The preset's plan for the current portfolio: from the cache when nothing changed, else planned now."""
    ctx = get_context()
    today = ctx.clock.now().date().isoformat()
    with ctx.store.read() as session:
        portfolio = portfolio_stamp(session)
        market, sendable = market_stamp(session, today), market_stamp(session, today, with_state=False)
    key = KEY_PREFIX + digest([portfolio, market, preset_stamp(preset)])
    plan = cache.get(key)
    if not isinstance(plan, PlanResult) or not isinstance(cache.get(key + MADE_ON), MadeOn):
        plan, trading_state = _compute(preset)
        cache.set(key, plan, timeout=PLAN_TTL_SECONDS)
        cache.set(key + MADE_ON, MadeOn(sendable, preset, trading_state, portfolio), timeout=PLAN_TTL_SECONDS)
    return Preview(key, portfolio, plan, preset)


def _trades(plan: PlanResult) -> list[tuple[str, str, float]]:
    return [(s.symbol, s.side, s.qty) for s in plan.steps]


def market_refusal(key: object, plan: PlanResult) -> str | None:
    """Why the plan under `key` must not be sent because the market moved since it was made, or None.

    The rule (bars may arrive every second, so a bare stamp match would refuse nearly every send): when the newest
    bar, account, regime, parameter version or day changed since the preview, the plan is recomputed for the same
    preset on the current store and sent only if it is the same trades (symbol, side, quantity, order); else the
    trader is asked to preview again. A trading state change is left to the send's gate and the gateway: the
    recompute plans under the state the plan was made in (a HALT's broker sync writes a new account snapshot)."""
    made = made_on(key)
    if made is None:
        return "what this plan was made on is no longer available; review the refreshed preview and send again"
    ctx = get_context()
    with ctx.store.read() as session:
        now = market_stamp(session, ctx.clock.now().date().isoformat(), with_state=False)
    if now == made.market:
        return None
    again, _state = _compute(made.preset, made.trading_state)
    if _trades(again) == _trades(plan):
        return None
    proposed = "; ".join(f"{s.side} {s.qty:,.0f} {s.symbol}" for s in again.steps) or "no trades (hold)"
    return ("the market changed since this plan was made (newer prices, account, regime or parameters) and the "
            f"planner now proposes: {proposed}. Review the refreshed preview and send again")


def made_on(key: object) -> MadeOn | None:
    """What the plan under `key` was made on, if still cached (a key from the browser: checked like cached_plan)."""
    if not isinstance(key, str) or not key.startswith(KEY_PREFIX) or len(key) > 64:
        return None
    made = cache.get(f"{key}{MADE_ON}")
    return made if isinstance(made, MadeOn) else None


def tuned_overrides(preset: PlannerPreset) -> dict[str, object]:
    """The overrides (switches and numbers) a page-composed preset carries over its base moved by its sliders: what
    it differs in from composing the same base and sliders with none (override > slider > base), for the audit."""
    root = all_presets().get(preset.base) if preset.base in api.BUILT_IN_PRESETS else None
    if root is None:
        return {}
    plain = api.compose_preset(root, preset.sliders, {}, name=preset.name, stored=True)
    return {k: v for k, v in sorted(preset.params.items()) if plain.params.get(k) != v}


def cached_plan(key: object) -> PlanResult | None:
    """The plan a page showed under `key`, if it is still cached (keys come from the browser: checked)."""
    if not isinstance(key, str) or not key.startswith(KEY_PREFIX) or len(key) > 64:
        return None
    plan = cache.get(key)
    return plan if isinstance(plan, PlanResult) else None


def current_portfolio_stamp() -> str:
    with get_context().store.read() as session:
        return portfolio_stamp(session)


@cache.memoize()
def all_presets() -> dict[str, PlannerPreset]:
    """Built-ins and the newest version of each user preset (the picker's options, never empty); memoized for
    the query period like every page read (webapp/cache.py), forgotten at once when a user preset is saved."""
    with get_context().store.read() as session:
        return preset_store.list_presets(session)


def forget_presets() -> None:
    cache.delete_memoized(all_presets)
