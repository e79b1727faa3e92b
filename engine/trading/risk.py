"""Pre-trade checks: small pure functions, each returning a RiskRejection with a trader-readable reason.

The gateway gathers the facts (OrderFacts) inside the order's transaction and calls run_checks.
Checks that guard against new exposure (position, gross, daily loss, drawdown, stale data, a valid price) do not
block an order that only reduces a position: a trader must always be able to get smaller.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from engine.trading.account_flags import AccountFlags, blocked_reason
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.instruments import not_tradable_reason
from engine.trading.marks import valid_price
from engine.trading.risk_limits import RiskLimits
from engine.trading.state import SYSTEM_ACTOR_PREFIX, TradingState

ZERO = Decimal(0)
HUNDRED = Decimal(100)
# "stop": a protective exit (engine/execution/protect.py); from a system actor it is still refused while HALTED
FLATTEN_ORIGINS = frozenset({"flatten", "kill_switch", "shutdown", "stop"})
PARAMS_UNLOADABLE = "params_unloadable"  # the check that refuses new exposure while the active version won't load


@dataclass(frozen=True, slots=True)
class RiskRejection:
    check: str  # e.g. "trading_state", "max_order_notional"
    reason: str


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """Everything the checks need, read in the order's transaction."""

    state: TradingState
    symbol: str
    side: OrderSide
    qty: Decimal
    order_type: OrderType
    limit_price: Decimal | None
    origin: str
    actor: str
    now: datetime
    last_price: Decimal | None
    last_data_at: datetime | None  # None = freshness unknown
    position_qty: Decimal  # the broker position as last synced
    projected_qty: Decimal  # plus the remaining quantity of our open orders
    equity: Decimal | None
    start_of_day_equity: Decimal | None
    peak_equity: Decimal | None
    gross_exposure: Decimal  # projected, at last prices
    instrument_kind: str | None = None  # the store's Instrument.kind ("index" | "stock"); None = not recorded
    index_tradable: bool = False  # the source's index is a traded instrument (Alpaca's SPY), not a quoted series
    unpriced: tuple[str, ...] = ()  # held (or ordered) symbols with no valid price: gross exposure is unknown
    account: AccountFlags | None = None  # the broker account's flags as last synced; None = no restriction known
    open_buys: Decimal = ZERO  # the unfilled rest of our open buys of the symbol (in projected_qty)
    open_sells: Decimal = ZERO  # and of our open sells: resting orders that may never fill

    @property
    def signed_qty(self) -> Decimal:
        return self.qty if self.side is OrderSide.BUY else -self.qty

    @property
    def reduces(self) -> bool:
        """True when the order only shrinks the position (now and once open orders fill) and never flips it."""
        return _reduces(self.position_qty, self.signed_qty) and _reduces(self.projected_qty, self.signed_qty)

    def worst_position(self, delta: Decimal = ZERO) -> Decimal:
        """The signed position (+ delta) of largest size any fill of the resting orders can reach
        (engine/trading/open_sides.py): resting orders adding to the size count as filled, those reducing it
        may never fill, so they do not count."""
        high = self.projected_qty + self.open_sells + delta  # every resting buy filled, no resting sell
        low = self.projected_qty - self.open_buys + delta  # every resting sell filled, no resting buy
        return high if abs(high) >= abs(low) else low

    @property
    def ref_price(self) -> Decimal | None:
        return self.limit_price if self.order_type is OrderType.LIMIT and self.limit_price else self.last_price


def _reduces(position: Decimal, delta: Decimal) -> bool:
    after = position + delta
    return position != 0 and abs(after) < abs(position) and (after == 0 or (after > 0) == (position > 0))


def _pct(x: Decimal) -> str:
    return f"{x.quantize(Decimal('0.01'))}%"


def check_tradable(f: OrderFacts) -> RiskRejection | None:
    """An index is quoted, never ordered. An order that only shrinks a position already held is let through,
    so a position opened before this check existed (the paper broker filled index orders) can still be closed."""
    reason = not_tradable_reason(f.symbol, f.instrument_kind, f.index_tradable)
    if reason is None or f.reduces:
        return None
    return RiskRejection("not_tradable", reason)


def check_trading_state(f: OrderFacts) -> RiskRejection | None:
    flatten = f.origin in FLATTEN_ORIGINS
    if f.state is TradingState.ACTIVE:
        return None
    if f.state is TradingState.REDUCING:
        if f.reduces:
            return None
        return RiskRejection("trading_state", f"trading is REDUCING: only orders that shrink an existing position are "
                             f"allowed; {f.side} {f.qty} {f.symbol} would add or flip exposure (position "
                             f"{f.position_qty}, with open orders {f.projected_qty})")
    if f.state is TradingState.HALTED:
        if flatten and not f.actor.startswith(SYSTEM_ACTOR_PREFIX) and f.reduces:
            return None
        return RiskRejection("trading_state", "trading is HALTED: no orders are sent; only an operator's explicit "
                             "flatten is allowed. To exit while HALTED, use the kill switch with 'close all "
                             "positions' (flatten) ticked, or resume trading first")
    if f.state is TradingState.SHUTTING_DOWN:
        if flatten and f.reduces:
            return None
        return RiskRejection("trading_state", "the engine is SHUTTING_DOWN: only cancels and flattening orders are allowed")
    return RiskRejection("trading_state", "trading is STOPPED: no orders until an operator resumes trading")


def check_params_loaded(f: OrderFacts, limits: RiskLimits) -> RiskRejection | None:
    """The active parameter version cannot be loaded (risk_limits.fail_closed): nothing that adds exposure is
    sent on limits nobody set; exits (stops, flatten, the kill switch, a trader's sell) still go."""
    if limits.params_problem is None or f.reduces:
        return None
    return RiskRejection(PARAMS_UNLOADABLE, limits.params_problem)


def check_order_size(f: OrderFacts, limits: RiskLimits) -> RiskRejection | None:
    if f.origin in FLATTEN_ORIGINS and f.reduces:
        return None  # getting flat must never be blocked by the size of the position
    if f.qty > limits.max_order_qty:
        return RiskRejection("max_order_qty", f"{f.side} {f.qty} {f.symbol} exceeds the maximum order quantity "
                             f"{limits.max_order_qty}; split it or lower the size")
    price = f.ref_price
    if valid_price(price) and f.qty * price > limits.max_order_notional:  # no valid price: refused further on
        return RiskRejection("max_order_notional", f"{f.side} {f.qty} {f.symbol} is worth {(f.qty * price):.2f}, above "
                             f"the maximum order notional {limits.max_order_notional}")
    return None


def check_price_collar(f: OrderFacts, limits: RiskLimits) -> RiskRejection | None:
    if f.order_type is not OrderType.LIMIT or f.limit_price is None or not valid_price(f.last_price):
        return None  # no valid last price: check_valid_price refuses the order unless it only reduces
    away = abs(f.limit_price - f.last_price) / f.last_price * HUNDRED
    if away > limits.price_collar_pct:
        return RiskRejection("price_collar", f"limit {f.limit_price} for {f.symbol} is {_pct(away)} away from the last "
                             f"price {f.last_price} (collar {_pct(limits.price_collar_pct)}); check the price")
    return None


def check_no_flip(f: OrderFacts) -> RiskRejection | None:
    """One order never turns a long into a short or back (a fat finger's classic: sell 1,500 holding 688).
    Closing and opening are two decisions, as at Alpaca, which refuses to sell more than a long holds.
    Nor do several: a sell is judged against the long less our resting sells (a cover against the short less our
    resting buys), since all of them may fill, so a flip split across orders is refused too."""
    resting = f.open_sells if f.side is OrderSide.SELL else f.open_buys
    if resting > 0 and (split := _split_flip(f, resting)) is not None:
        return split  # said with the resting orders that make it a flip
    before, after = f.projected_qty, f.projected_qty + f.signed_qty
    if before != 0 and after != 0 and (before > 0) != (after > 0):
        held, then = ("long", "short") if before > 0 else ("short", "long")
        return RiskRejection("position_flip", f"{f.side} {f.qty} {f.symbol} would turn the {held} {abs(before)} "
                             f"(open orders included) into a {then} {abs(after)} in one order; close the position "
                             f"first ({f.side} {abs(before)}), then open the {then} with an order of its own")
    return _split_flip(f, resting)


def _split_flip(f: OrderFacts, resting: Decimal) -> RiskRejection | None:
    """The held position against this order plus our `resting` orders on the same side (all may fill)."""
    closing = (f.side is OrderSide.SELL and f.position_qty > 0) or (f.side is OrderSide.BUY and f.position_qty < 0)
    free = abs(f.position_qty) - resting  # what the resting orders on this side leave to close
    if not closing or f.qty <= free:
        return None
    held, then = ("long", "short") if f.position_qty > 0 else ("short", "long")
    verb = "sold" if f.side is OrderSide.SELL else "bought"
    return RiskRejection("position_flip", f"{f.side} {f.qty} {f.symbol} with {_n(resting)} already resting on the "
                         f"same side would turn the {held} {_n(abs(f.position_qty))} into a {then} {_n(f.qty - free)} "
                         f"once all fill; at most {_n(max(free, ZERO))} more may be {verb}: cancel or change the "
                         f"resting orders first, then open the {then} with an order of its own")


def _n(x: Decimal) -> str:
    """A quantity as a trader writes it (the store's numeric scale dropped: 67, not 67.00000000)."""
    return f"{x.normalize():f}"


def check_account_open(f: OrderFacts) -> RiskRejection | None:
    """A blocked, suspended or inactive account: the broker refuses every order (exits too), and each refusal
    would count toward the rejection halt; refused here with the reason instead."""
    reason = blocked_reason(f.account)
    return None if reason is None else RiskRejection("account_blocked", reason)


def check_shorting(f: OrderFacts) -> RiskRejection | None:
    """A sell that would open or increase a short (on the position held, or once open orders fill) on an account
    the broker does not let short."""
    if f.account is None or f.account.shorting_enabled or f.side is not OrderSide.SELL:
        return None
    held, then = f.position_qty + f.signed_qty, f.projected_qty + f.signed_qty
    if held >= 0 and then >= 0:
        return None
    return RiskRejection("shorting_disabled", f"sell {f.qty} {f.symbol} would open or increase a short (position "
                         f"{f.position_qty}, with open orders {f.projected_qty}) and the broker account does not allow "
                         "short selling; sell at most the shares held and not already being sold")


def check_stale_data(f: OrderFacts, limits: RiskLimits) -> RiskRejection | None:
    if f.last_price is None:
        return RiskRejection("stale_data", f"no market data for {f.symbol}; wait for prices before trading it")
    if f.last_data_at is None:
        return None  # freshness unknown (simulated bar times): the market job's receipt time is not recorded
    age = (f.now - f.last_data_at).total_seconds()
    if age > limits.stale_data_seconds:
        return RiskRejection("stale_data", f"market data for {f.symbol} is {age:.0f}s old (limit "
                             f"{limits.stale_data_seconds:.0f}s); check the market data feed on the Health page")
    return None


def check_valid_price(f: OrderFacts, limits: RiskLimits) -> RiskRejection | None:
    """A last close of 0, below 0 or not a number (a bad print) would let every notional limit pass at nothing
    and skip the collar, and the order would then fill at the real price: refused until a valid price arrives.
    Also refused while a held symbol cannot be valued at all, so gross exposure cannot be known."""
    if f.last_price is not None and not valid_price(f.last_price):
        return RiskRejection("no_valid_price", f"the last price of {f.symbol} is {f.last_price}, not a valid price; "
                             "no new exposure until a bar with a positive price arrives (check the market data feed)")
    if f.unpriced:
        names = ", ".join(f.unpriced)
        return RiskRejection("no_valid_price", f"cannot value {names}: no valid close, market price or entry price, "
                             "so gross exposure cannot be checked; wait for its price or close it first")
    return None


def check_position_limit(f: OrderFacts, limits: RiskLimits) -> RiskRejection | None:
    price = f.ref_price
    if price is None:
        return None
    after = abs(f.worst_position(f.signed_qty)) * price  # resting exits may never fill: not netted against this order
    if after > limits.max_position_notional:
        return RiskRejection("max_position_notional", f"{f.symbol} position would be worth {after:.2f}, above the "
                             f"per-symbol limit {limits.max_position_notional}")
    return None


def check_gross_exposure(f: OrderFacts, limits: RiskLimits) -> RiskRejection | None:
    price = f.ref_price
    if price is None or f.equity is None:
        return _no_account("gross exposure")
    increase = max(ZERO, abs(f.worst_position(f.signed_qty)) - abs(f.worst_position())) * price  # gross_exposure is the worst case too
    cap = f.equity * limits.max_gross_exposure_pct / HUNDRED
    if f.gross_exposure + increase > cap:
        return RiskRejection("max_gross_exposure", f"gross exposure would reach {(f.gross_exposure + increase):.2f}, "
                             f"above {_pct(limits.max_gross_exposure_pct)} of equity ({cap:.2f})")
    return None


def check_daily_loss(f: OrderFacts, limits: RiskLimits) -> RiskRejection | None:
    if f.equity is None or not f.start_of_day_equity:
        return _no_account("daily loss")
    loss = (f.start_of_day_equity - f.equity) / f.start_of_day_equity * HUNDRED
    if loss >= limits.daily_loss_limit_pct:
        return RiskRejection("daily_loss", f"today's loss is {_pct(loss)} of the start-of-day equity "
                             f"{f.start_of_day_equity:.2f} (limit {_pct(limits.daily_loss_limit_pct)}); no new exposure today")
    return None


def check_drawdown(f: OrderFacts, limits: RiskLimits) -> RiskRejection | None:
    if f.equity is None or not f.peak_equity:
        return _no_account("drawdown")
    dd = (f.peak_equity - f.equity) / f.peak_equity * HUNDRED
    if dd >= limits.max_drawdown_pct:
        return RiskRejection("drawdown", f"equity {f.equity:.2f} is {_pct(dd)} below its peak {f.peak_equity:.2f} "
                             f"(limit {_pct(limits.max_drawdown_pct)}); no new exposure")
    return None


def _no_account(what: str) -> RiskRejection:
    return RiskRejection("no_account", f"cannot check {what}: no account snapshot yet; wait for the account sync")


def run_checks(f: OrderFacts, limits: RiskLimits) -> RiskRejection | None:
    """The first failing check, in order; exposure checks are skipped for pure reductions."""
    if (r := check_tradable(f)) or (r := check_trading_state(f)) or (r := check_params_loaded(f, limits)):
        return r
    if r := check_account_open(f):
        return r
    if (r := check_order_size(f, limits)) or (r := check_price_collar(f, limits)):
        return r
    if (r := check_no_flip(f)) or (r := check_shorting(f)):
        return r
    if f.reduces:
        return None
    for exposure_check in (check_stale_data, check_valid_price, check_daily_loss, check_drawdown, check_position_limit,
                           check_gross_exposure):
        if (r := exposure_check(f, limits)) is not None:
            return r
    return None

