"""Per-preset execution style and default stops (config/execution.toml), and the one call that sends a trade.

`send_trade` is what a planner calls for each planned order: immediate execution is one gateway
order; a sliced mode creates a parent worked by engine/execution/parents.py. Orders smaller than the
preset's `min_notional` always go at once (slicing a small order only costs time).
"""
from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.execution.parents import create_parent_once
from engine.execution.session_fit import ParentRefused
from engine.execution.slicing import SliceError, SliceSpec
from engine.execution.stops import StopError, StopSpec
from engine.protocols import ControlContext
from engine.settings import PROJECT_ROOT
from engine.trading.brokers.base import OrderStatus, OrderType
from engine.trading.gateway import GatewayResult, submit

CONFIG_PATH = PROJECT_ROOT / "config" / "execution.toml"
STOP_KEYS = ("stop_loss_pct", "trail_pct", "trail_atr_mult", "take_profit_pct", "max_hold_seconds")
EXEC_KEYS = ("mode", "duration_s", "slices", "participation", "limit_offset_bps", "min_notional")


class ExecutionConfigError(ValueError):
    """config/execution.toml is unreadable or a value is out of range; the message names the table and key."""


@dataclass(frozen=True, slots=True)
class ExecutionMode:
    slicing: SliceSpec | None  # None = immediate
    min_notional: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class PresetExecution:
    stops: StopSpec | None
    execution: ExecutionMode


def _table(data: dict[str, Any], preset: str, name: str, keys: tuple[str, ...]) -> dict[str, Any]:
    table = data.get(preset, {}).get(name, {})
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise ExecutionConfigError(f"[{preset}.{name}]: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(keys)}")
    return dict(table)


def parse_preset(data: dict[str, Any], preset: str) -> PresetExecution:
    stops_t = _table(data, preset, "stops", STOP_KEYS)
    exec_t = _table(data, preset, "execution", EXEC_KEYS)
    try:
        hold = stops_t.pop("max_hold_seconds", None)
        stops = StopSpec(**{k: Decimal(str(v)) for k, v in stops_t.items()},
                         max_hold_seconds=float(hold) if hold is not None else None)
        mode = str(exec_t.pop("mode", "immediate"))
        min_notional = Decimal(str(exec_t.pop("min_notional", 0)))
        slicing = None
        if mode != "immediate":
            slicing = SliceSpec(mode=mode, duration_s=float(exec_t.get("duration_s", 600)),
                                slices=int(exec_t.get("slices", 10)),
                                participation=_dec(exec_t.get("participation")),
                                limit_offset_bps=_dec(exec_t.get("limit_offset_bps")))
    except (StopError, SliceError, ArithmeticError, TypeError, ValueError) as exc:
        raise ExecutionConfigError(f"[{preset}] in {CONFIG_PATH.name}: {exc}") from exc
    return PresetExecution(None if stops.empty else stops, ExecutionMode(slicing, min_notional))


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def load_config(path: Path = CONFIG_PATH) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ExecutionConfigError(f"{path}: cannot read the execution settings ({exc})") from exc


def short_key(key: str, limit: int = 128) -> str:
    """An idempotency key that fits its column: long keys are hashed, short ones kept readable."""
    return key if len(key) <= limit else f"{key[:80]}#{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def for_preset(preset: str, path: Path = CONFIG_PATH) -> PresetExecution:
    return parse_preset(load_config(path), preset)


def send_trade(ctx: ControlContext, intent: Any, actor: str, origin: str, mode: ExecutionMode, last_price: Decimal | None,
               limits: Any = None, param_version_id: int | None = None) -> tuple[str, Any]:
    """Send one planned order: ("order", GatewayResult) at once, or ("parent", parent id) when sliced, or
    ("parent_known", parent id) when the intent's idempotency key made that parent before (nothing new went out).

    A limit intent or a small one (below min_notional at the last price) always goes at once."""
    notional = intent.qty * last_price if last_price is not None else None
    sliced = (mode.slicing is not None and intent.order_type is OrderType.MARKET and notional is not None
              and notional >= mode.min_notional and intent.qty == intent.qty.to_integral_value())
    if not sliced or mode.slicing is None:
        return "order", submit(ctx, intent, actor, origin, limits, param_version_id)
    try:
        parent_id, created = create_parent_once(
            ctx, intent.symbol, intent.side, intent.qty, mode.slicing, actor, origin,
            idempotency_key=short_key(f"{origin}:{intent.idempotency_key}:{intent.symbol}:{intent.side}"),
            reason=intent.reason)
    except ParentRefused as exc:  # the session cannot hold it (closed, or an entry in its last minutes): audited there
        return "order", GatewayResult(client_order_id="", status=OrderStatus.REJECTED, accepted=False, check="session",
                                      reason=str(exc))
    return ("parent" if created else "parent_known"), parent_id
