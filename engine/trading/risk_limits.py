"""The limits every pre-trade check and automatic trigger reads: RiskLimits from the active parameter version's
TradingRisk sheet (the schema's defaults when there is none), read once per use so an applied version takes effect
on the next order: the gateway reads them inside each order's transaction (engine/trading/order_limits.py).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine.params.errors import ParamsError
from engine.params.paramset import ParamSet
from engine.params.typed import Parameters, TradingRisk
from engine.params.versions import active_params
from engine.trading.equity import market_timezone

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from engine.store.db import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Pre-trade limits and automatic-trigger thresholds. Field names are the parameter names.

    `version_id`: the stored parameter version they were read from (None: built by hand, or from an unsaved set).
    The gateway treats limits read from a version as a snapshot and checks each order against the version active
    in its transaction instead (engine/trading/order_limits.py); limits built by hand are used as given."""

    max_order_qty: Decimal = Decimal(10_000)
    max_order_notional: Decimal = Decimal(250_000)
    max_position_notional: Decimal = Decimal(500_000)  # per symbol, after the order
    max_gross_exposure_pct: Decimal = Decimal(200)  # of equity
    price_collar_pct: Decimal = Decimal(5)  # a limit this far from the last price is a fat finger
    daily_loss_limit_pct: Decimal = Decimal(3)  # from the start-of-day equity
    max_drawdown_pct: Decimal = Decimal(10)  # from the running equity peak
    stale_data_seconds: float = 300.0
    max_rejections: int = 20  # broker rejections in rejection_window_seconds, then rejection_action
    rejection_window_seconds: float = 300.0
    daily_loss_action: str = "REDUCING"
    drawdown_action: str = "REDUCING"
    rejection_action: str = "HALTED"
    halt_on_broker_circuit_open: bool = True
    reconciliation_tolerance: Decimal = Decimal(1)  # USD of cash/position value difference -> REDUCING
    market_timezone: str = "Asia/Kolkata"  # MasterConfiguration's: the daily loss counts from this zone's midnight
    version_id: int | None = field(default=None, compare=False)

    @classmethod
    def from_params(cls, ps: ParamSet | None) -> RiskLimits:
        """Limits from a parameter set's TradingRisk sheet (same names as these fields); defaults otherwise.

        The defaults here equal the schema's (a test keeps them in step), so None is safe for tests.
        """
        values: dict[str, Any] = {}
        if ps is not None:
            try:
                values = _trading_risk_values(Parameters(ps).trading_risk)
            except ParamsError:  # an older parameter version without the optional sheet
                log.info("the parameter set has no TradingRisk sheet; default risk limits apply")
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in values and values[f.name] is not None:
                default: Any = f.default
                raw = values[f.name]
                if isinstance(default, Decimal):
                    kwargs[f.name] = Decimal(str(raw))
                elif isinstance(default, bool | str):
                    kwargs[f.name] = str(raw).upper() if isinstance(default, str) else bool(raw)
                else:
                    kwargs[f.name] = type(default)(raw)
        if ps is not None:
            kwargs["market_timezone"] = market_timezone(ps)
            kwargs["version_id"] = ps.version_id
        return cls(**kwargs)


def _trading_risk_values(t: TradingRisk) -> dict[str, Any]:
    """The TradingRisk parameters RiskLimits holds, read by name through the typed view (RiskLimits's
    field names; market_timezone comes from MasterConfiguration)."""
    return {
        "max_order_qty": t.max_order_qty, "max_order_notional": t.max_order_notional,
        "max_position_notional": t.max_position_notional, "max_gross_exposure_pct": t.max_gross_exposure_pct,
        "price_collar_pct": t.price_collar_pct, "daily_loss_limit_pct": t.daily_loss_limit_pct,
        "max_drawdown_pct": t.max_drawdown_pct, "stale_data_seconds": t.stale_data_seconds,
        "max_rejections": t.max_rejections, "rejection_window_seconds": t.rejection_window_seconds,
        "daily_loss_action": t.daily_loss_action, "drawdown_action": t.drawdown_action,
        "rejection_action": t.rejection_action, "halt_on_broker_circuit_open": t.halt_on_broker_circuit_open,
        "reconciliation_tolerance": t.reconciliation_tolerance,
    }


def active_limits(store: Store) -> RiskLimits:
    """The active parameter version's limits; the defaults when no version is stored yet."""
    try:
        with store.read() as session:
            return active_limits_in(session)
    except Exception as exc:  # noqa: BLE001 - the store unreachable: the schema defaults apply
        log.debug("no active parameter version (%s); default risk limits apply", exc)
        return RiskLimits()


def active_limits_in(session: Session) -> RiskLimits:
    """active_limits read in the caller's session (sync reads them with its other reads, in one transaction).
    On a failure the defaults apply; on PostgreSQL the session's transaction is then aborted, so read them last."""
    try:
        return RiskLimits.from_params(active_params(session))
    except Exception as exc:  # noqa: BLE001 - no active version (fresh store): the schema defaults apply
        log.debug("no active parameter version (%s); default risk limits apply", exc)
        return RiskLimits()
