"""The limits every pre-trade check and automatic trigger reads: RiskLimits from the active parameter version's
TradingRisk sheet (the schema's defaults when there is none), read once per use so an applied version takes effect
on the next order: the gateway reads them inside each order's transaction (engine/trading/order_limits.py).

A stored active version that no longer loads (it fails today's validation after a schema upgrade, or its row is
unreadable) fails closed (`fail_closed`): orders that add exposure are refused with the problem named, exits still
go, and each limit is the tighter of the stored value and the default; the schema's (looser) defaults used to apply.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine.params.errors import ParamsError, ValidationError
from engine.params.paramset import ParamSet
from engine.params.typed import Parameters, TradingRisk
from engine.params.versions import active_params, active_version_id
from engine.store.models import ParamVersion
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
    # set when the active version cannot be loaded: why orders that add exposure are refused (fail_closed)
    params_problem: str | None = field(default=None, compare=False)

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
    """The active parameter version's limits; the defaults when no version is stored yet (or the store is
    unreachable); fail_closed limits when the stored active version cannot be loaded."""
    try:
        with store.read() as session:
            return active_limits_in(session)
    except Exception as exc:  # noqa: BLE001 - the store unreachable: the schema defaults apply
        log.debug("no active parameter version (%s); default risk limits apply", exc)
        return RiskLimits()


def active_limits_in(session: Session) -> RiskLimits:
    """active_limits read in the caller's session (sync reads them with its other reads, in one transaction).
    The store failing: the defaults (on PostgreSQL the transaction is then aborted, so read them last)."""
    return active_params_and_limits(session)[1]


def active_params_and_limits(session: Session) -> tuple[ParamSet | None, RiskLimits]:
    """(the active version, its limits) in one read. A stored version that cannot be loaded: (None,
    fail_closed limits). No version stored, or the store failing before one was found: (None, the defaults)."""
    try:
        ps = active_params(session)
    except Exception as exc:  # noqa: BLE001 - fail closed when a version is stored but will not load
        try:
            vid = active_version_id(session)
        except Exception:  # noqa: BLE001 - the store itself failed: as before, the defaults apply
            log.debug("no active parameter version (%s); default risk limits apply", exc)
            return None, RiskLimits()
        if vid is None:
            return None, RiskLimits()
        log.error("active parameter version %s cannot be loaded (%s); only exits are accepted", vid, exc)
        return None, fail_closed(vid, exc, stored_trading_risk(session, vid))
    try:
        return ps, RiskLimits.from_params(ps)
    except Exception as exc:  # noqa: BLE001 - an unreadable TradingRisk sheet: fail closed too
        log.error("risk limits of parameter version %s cannot be read (%s)", ps.version_id, exc)
        return None, fail_closed(ps.version_id, exc, None)


def unloadable_text(version_id: int | None, exc: BaseException) -> str:
    """The trader-readable reason: which version, which sheet/cell and what is wrong, and what to do."""
    if isinstance(exc, ValidationError) and exc.issues:
        problem = "; ".join(str(i) for i in exc.issues[:2]) + (
            f" (and {len(exc.issues) - 2} more)" if len(exc.issues) > 2 else "")
    else:
        problem = f"{type(exc).__name__}: {str(exc)[:200]}"
    return (f"the active parameter version {version_id} cannot be loaded ({problem}); only exits are accepted "
            "until a valid version is applied (Parameters page), then resume trading")


_LARGER_IS_TIGHTER = frozenset({"rejection_window_seconds"})
_ACTION_RANK = {"REDUCING": 1, "HALTED": 2}


def fail_closed(version_id: int | None, exc: BaseException, stored: Any) -> RiskLimits:
    """The limits while the active version cannot be loaded: orders adding exposure refused (params_problem);
    each limit the tighter of the version's stored value (`stored`: its raw TradingRisk values, where readable)
    and the default, so the triggers that still act on exits and on the account (daily loss, drawdown) are never
    looser than the trader set them."""
    values: dict[str, Any] = {}
    raw = stored if isinstance(stored, dict) else {}
    for f in dataclasses.fields(RiskLimits):
        default: Any = f.default
        if f.name not in raw or f.name in ("market_timezone", "version_id", "params_problem"):
            continue
        tighter = _tighter(default, raw[f.name], f.name in _LARGER_IS_TIGHTER)
        if tighter is not None:
            values[f.name] = tighter
    return RiskLimits(**values, version_id=version_id, params_problem=unloadable_text(version_id, exc))


def _tighter(default: Any, raw: Any, larger_is_tighter: bool) -> Any:
    """The stricter of `default` and the stored `raw` (None: `raw` is not a usable value of that kind)."""
    if isinstance(default, bool):
        return True if raw is True else None
    if isinstance(default, str):
        ranked = str(raw).upper()
        return ranked if _ACTION_RANK.get(ranked, 0) > _ACTION_RANK.get(default, 0) else None
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return None
    if isinstance(raw, bool) or not math.isfinite(number) or number <= 0:
        return None
    value = Decimal(str(raw)) if isinstance(default, Decimal) else type(default)(number)
    return max(default, value) if larger_is_tighter else min(default, value)


def stored_trading_risk(session: Session, version_id: int | None) -> Any:
    """The raw TradingRisk values stored with `version_id`, unvalidated (None when unreadable)."""
    try:
        row = session.get(ParamVersion, version_id) if version_id is not None else None
        return json.loads(row.values_json)["sheets"]["TradingRisk"]["main"] if row is not None else None
    except Exception:  # noqa: BLE001 - unreadable: the defaults alone apply
        return None
