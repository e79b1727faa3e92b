"""Position sizing: volatility (ATR) based, capped by a Kelly fraction and the risk limits, scaled by regime.

qty = risk_per_trade x equity / (ATR x stop multiple), so every trade risks the same share of
equity whatever the instrument's volatility. Then: a Kelly cap on the notional, the regime's
TradingBias multiplier (0 when the bias forbids the direction), MasterConfiguration's
max_position_during_transition while the regime is changing, and the per-symbol / per-order limits.
Pure: the caller supplies equity, price, ATR and the regime.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from engine.params.paramset import ParamSet
from engine.params.typed import Parameters
from engine.trading.brokers.base import OrderSide
from engine.trading.risk_limits import RiskLimits

ZERO = Decimal(0)
HUNDRED = Decimal(100)
DEFAULT_BIAS_MULTIPLIERS: dict[str, Decimal] = {
    "NONE": Decimal(0), "LONG": Decimal(1), "LONG_CAUTIOUS": Decimal("0.5"), "LONG_AGGRESSIVE": Decimal("1.5"),
    "SHORT": Decimal(1), "SHORT_CAUTIOUS": Decimal("0.5"), "SHORT_AGGRESSIVE": Decimal("1.5"),
    "RANGE": Decimal("0.5"), "RANGE_WIDE": Decimal("0.3"),
}  # the schema's defaults (TradingRisk.bias_size_multipliers); from_params reads the active values


def _d(x: Any) -> Decimal:
    return x if isinstance(x, Decimal) else Decimal(str(x))


@dataclass(frozen=True, slots=True)
class SizingParams:
    atr_risk_per_trade_pct: Decimal = Decimal("0.5")
    atr_stop_multiplier: Decimal = Decimal(2)
    kelly_fraction_cap: Decimal = Decimal("0.25")
    max_position_during_transition: Decimal = Decimal("0.5")
    bias_multipliers: dict[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_BIAS_MULTIPLIERS))

    @classmethod
    def from_params(cls, ps: ParamSet | None) -> SizingParams:
        """TradingRisk (sizing fields and bias_size_multipliers) and MasterConfiguration.max_position_during_transition."""
        if ps is None:
            return cls()
        params = Parameters(ps)  # typed attribute reads: the consumption test records them
        risk, master = params.trading_risk, params.master_configuration
        bias = {str(r.trading_bias).upper(): _d(r.size_multiplier) for r in risk.bias_size_multipliers}
        return cls(
            atr_risk_per_trade_pct=_d(risk.atr_risk_per_trade_pct),
            atr_stop_multiplier=_d(risk.atr_stop_multiplier),
            kelly_fraction_cap=_d(risk.kelly_fraction_cap),
            max_position_during_transition=_d(master.max_position_during_transition),
            bias_multipliers=bias or dict(DEFAULT_BIAS_MULTIPLIERS),
        )


@dataclass(frozen=True, slots=True)
class SizeResult:
    qty: Decimal  # whole shares, >= 0; the side is the caller's
    raw_qty: Decimal  # the ATR size before caps and multipliers
    binding: str  # what set the final size: "atr", "kelly", "regime", "transition", "max_position", "max_order_qty", ...
    notes: tuple[str, ...] = ()


def kelly_fraction(win_rate: float, payoff_ratio: float) -> Decimal:
    """Kelly f* = W - (1 - W) / R, floored at 0 (no edge, no bet)."""
    if payoff_ratio <= 0:
        return ZERO
    w = _d(win_rate)
    return max(ZERO, w - (1 - w) / _d(payoff_ratio))


def bias_allows(bias: str, side: OrderSide) -> bool:
    """A LONG* bias sizes only buys, a SHORT* bias only sells; RANGE and others allow both."""
    b = bias.upper()
    if b.startswith("LONG"):
        return side is OrderSide.BUY
    if b.startswith("SHORT"):
        return side is OrderSide.SELL
    return True


def regime_bias(params: ParamSet | None, regime: str | None) -> str | None:
    """`regime`'s TradingBias from RegimeParameters (None: no regime, no parameters, or no row for it)."""
    if regime is None or params is None:
        return None
    return {r.regime_name: str(r.trading_bias) for r in Parameters(params).regime_parameters.rows}.get(regime)


def missing_bias_note(regime: str) -> str:
    return (f"regime {regime} has no RegimeParameters row (no trading bias or size multiplier): nothing is sized "
            "in it; add the row on the Parameters page")


def size_position(equity: Decimal, price: Decimal, atr: Decimal, side: OrderSide, params: SizingParams,
                  limits: RiskLimits, trading_bias: str | None = None, in_transition: bool = False,
                  win_rate: float | None = None, payoff_ratio: float | None = None,
                  current_qty: Decimal = ZERO, regime: str | None = None) -> SizeResult:
    """Shares to trade opening or adding on `side`; 0 with a note when nothing should be traded.

    `regime` given with no `trading_bias`: the regime has no RegimeParameters row, so neither its direction nor its
    size multiplier is known: 0 (a regime whose bias is NONE or SHORT used to be sized at full size for buys)."""
    equity, price, atr = _d(equity), _d(price), _d(atr)
    if equity <= 0 or price <= 0 or atr <= 0:
        return SizeResult(ZERO, ZERO, "invalid", (f"cannot size: equity {equity}, price {price}, ATR {atr} must be positive",))
    if regime is not None and trading_bias is None:
        return SizeResult(ZERO, ZERO, "regime", (missing_bias_note(regime),))
    risk_cash = equity * params.atr_risk_per_trade_pct / HUNDRED
    raw = risk_cash / (atr * params.atr_stop_multiplier)
    qty, binding, notes = raw, "atr", [f"risk {risk_cash:,.0f} / ({atr:,.2f} ATR x {params.atr_stop_multiplier:g}) "
                                       f"= {raw:,.0f}"]

    fraction = params.kelly_fraction_cap
    if win_rate is not None and payoff_ratio is not None:
        fraction = min(fraction, kelly_fraction(win_rate, payoff_ratio))
    kelly_qty = equity * fraction / price
    if kelly_qty < qty:
        qty, binding = kelly_qty, "kelly"
        notes.append(f"Kelly cap {fraction:.1%} of equity -> {kelly_qty:,.0f}")

    if trading_bias is not None:
        mult = params.bias_multipliers.get(trading_bias.upper(), Decimal(1)) if bias_allows(trading_bias, side) else ZERO
        if mult != 1:
            qty, binding = qty * mult, "regime"
            notes.append(f"regime bias {trading_bias} x {mult}")
    if in_transition:
        qty, binding = qty * params.max_position_during_transition, "transition"
        notes.append(f"regime in transition x {params.max_position_during_transition}")

    signed_current = _d(current_qty) if side is OrderSide.BUY else -_d(current_qty)
    room = max(ZERO, limits.max_position_notional / price - max(ZERO, signed_current))
    if room < qty:
        qty, binding = room, "max_position"
        notes.append(f"per-symbol limit {limits.max_position_notional:,.0f} leaves room for {room:,.0f}")
    order_cap = min(limits.max_order_qty, limits.max_order_notional / price)
    if order_cap < qty:
        qty, binding = order_cap, "max_order_qty" if limits.max_order_qty <= limits.max_order_notional / price else "max_order_notional"
        notes.append(f"order limit caps at {order_cap:,.0f}")
    whole = max(ZERO, qty.quantize(Decimal(1), rounding=ROUND_DOWN))
    return SizeResult(whole, raw, binding, tuple(notes))


PRICE_MARGIN = 0.01  # sized at a price 1% worse than the last close: a small move before the order still passes


def cap_to_limits(side: str, qty: float, price: float, position: float, gross: float, equity: float,
                  limits: RiskLimits, margin: float = PRICE_MARGIN) -> tuple[float, str | None]:
    """Whole shares of `qty` that pass the gateway's size and exposure checks (engine.trading.risk), and the
    limit that cut it (None if none). `position` is signed (open orders included), `gross` the gross exposure.

    The one sizing rule the planner's simulation and the manual ticket's Size share."""
    px = price * (1 + margin)
    if qty <= 0 or px <= 0:
        return 0.0, None
    binding: str | None = None
    caps = [(float(limits.max_order_qty), "max_order_qty"), (float(limits.max_order_notional) / px, "max_order_notional")]
    delta = qty if side == "buy" else -qty
    reduces = abs(position + delta) <= abs(position) and (position + delta) * position >= 0
    if not reduces:  # exposure checks apply only to orders that do not just shrink a position
        sign = 1.0 if side == "buy" else -1.0
        caps.append((max(0.0, float(limits.max_position_notional) / px - sign * position), "max_position_notional"))
        cap_gross = equity * float(limits.max_gross_exposure_pct) / 100.0
        caps.append((max(0.0, (cap_gross - gross) / px + max(0.0, -sign * position)), "max_gross_exposure"))
    for cap, name in caps:
        if cap < qty:
            qty, binding = cap, name
    return float(int(qty + 1e-9)), binding


def suggest_size(equity: Decimal, price: Decimal, atr: Decimal, side: OrderSide, params: SizingParams,
                 limits: RiskLimits, position_qty: Decimal = ZERO, gross_exposure: Decimal = ZERO,
                 cash: Decimal | None = None, trading_bias: str | None = None, in_transition: bool = False,
                 regime: str | None = None) -> SizeResult:
    """size_position, then every gateway limit (order size and notional with a price margin, per-symbol
    position, gross exposure) and, for buys, the cash; the notes show rounded figures."""
    signed = _d(position_qty)
    held_on_side = max(ZERO, signed if side is OrderSide.BUY else -signed)
    base = size_position(equity, price, atr, side, params, limits, trading_bias, in_transition,
                         current_qty=held_on_side, regime=regime)
    if base.qty <= 0:
        return base
    qty, cut = cap_to_limits(side.value, float(base.qty), float(price), float(signed), float(gross_exposure),
                             float(equity), limits)
    binding, notes = base.binding, list(base.notes)
    if cut is not None and qty < float(base.qty):
        binding = cut
        notes.append(f"{cut.replace('_', ' ')} ({_limit_text(cut, limits)}) caps at {qty:,.0f}")
    if side is OrderSide.BUY and cash is not None and qty * float(price) > float(cash):
        qty, binding = float(int(float(cash) / float(price))), "cash"
        notes.append(f"cash {float(cash):,.0f} pays for {qty:,.0f}")
    against = float(-signed if side is OrderSide.BUY else signed)  # held on the other side: this order closes it
    if 0 < against < qty:  # the gateway refuses a flip in one order (risk.check_no_flip): suggest the close
        qty, binding = against, "close"
        notes.append(f"closes the {'short' if side is OrderSide.BUY else 'long'} {against:,.0f} (one order never "
                     "flips a position)")
    whole = Decimal(int(qty))
    notes.append(f"{whole:,} x {float(price):,.2f} = {float(whole) * float(price):,.0f} notional")
    return SizeResult(whole, base.raw_qty, binding, tuple(notes))


def _limit_text(name: str, limits: RiskLimits) -> str:
    if name == "max_gross_exposure":
        return f"{limits.max_gross_exposure_pct:g}% of equity"
    value = getattr(limits, name)
    return f"{value:,.0f}"
