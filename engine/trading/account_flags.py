"""The broker account's flags as the sync last read them, for the gateway's checks and the Health page.

Alpaca refuses every order to an account that is blocked, suspended by its owner or not ACTIVE, and a short sale on
an account without shorting; its pattern-day-trader protection may refuse a same-day exit under $25,000 equity.
Each broker refusal counts toward the rejection halt, so the gateway refuses these first, with the reason. The sync
stores the flags in engine_kv (ACCOUNT_FLAGS_KEY) from the account it read anyway: no broker call per order, and
no schema change. No stored flags (the paper broker, or no sync yet) = no restriction.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from engine.store.models import KeyValue
from engine.trading.brokers.base import BrokerAccount

ACCOUNT_FLAGS_KEY = "broker.account_flags"
PDT_MIN_EQUITY = Decimal(25000)  # FINRA's pattern-day-trader minimum
PDT_DAY_TRADES = 3  # day trades in five business days after which the next one flags (or is refused)


@dataclass(frozen=True, slots=True)
class AccountFlags:
    status: str = "ACTIVE"
    trading_blocked: bool = False
    account_blocked: bool = False
    trade_suspended_by_user: bool = False
    pattern_day_trader: bool = False
    daytrade_count: int = 0
    shorting_enabled: bool = True
    equity: Decimal | None = None
    ts: str = ""  # when the sync read them (market time, ISO)
    broker: str = ""  # whose account (the message names it)

    @classmethod
    def of(cls, account: BrokerAccount, ts: str = "", broker: str = "") -> AccountFlags:
        return cls(account.status, account.trading_blocked, account.account_blocked, account.trade_suspended_by_user,
                   account.pattern_day_trader, account.daytrade_count, account.shorting_enabled, account.equity, ts,
                   broker)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "equity": None if self.equity is None else str(self.equity)}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> AccountFlags:
        equity = value.get("equity")
        return cls(str(value.get("status") or "ACTIVE"), bool(value.get("trading_blocked")),
                   bool(value.get("account_blocked")), bool(value.get("trade_suspended_by_user")),
                   bool(value.get("pattern_day_trader")), int(value.get("daytrade_count") or 0),
                   value.get("shorting_enabled") is not False, None if equity is None else Decimal(str(equity)),
                   str(value.get("ts") or ""), str(value.get("broker") or ""))


def read_account_flags(session: Session) -> AccountFlags | None:
    """The flags the last sync stored; None when none were (paper broker, no sync yet)."""
    row = session.get(KeyValue, ACCOUNT_FLAGS_KEY)
    return AccountFlags.from_json(row.value) if row is not None and isinstance(row.value, dict) else None


def blocked_reason(flags: AccountFlags | None) -> str | None:
    """Why the broker takes no order at all on this account, or None."""
    if flags is None:
        return None
    why = [w for w, on in (("account_blocked", flags.account_blocked), ("trading_blocked", flags.trading_blocked),
                           ("trade_suspended_by_user", flags.trade_suspended_by_user)) if on]
    if flags.status.upper() != "ACTIVE":
        why.append(f"status {flags.status}")
    if not why:
        return None
    return (f"the {flags.broker or 'broker'} account is not open for trading ({', '.join(why)}): the broker would "
            "refuse the order. Check the account at the broker (Alpaca dashboard); the next account sync picks up "
            "the change")


def pdt_warning(flags: AccountFlags | None) -> str | None:
    """A pattern-day-trader account under $25,000 with 3+ day trades: a same-day exit may be refused."""
    if flags is None or flags.equity is None or flags.equity >= PDT_MIN_EQUITY:
        return None
    if not flags.pattern_day_trader and flags.daytrade_count < PDT_DAY_TRADES:
        return None
    return (f"pattern day trader protection: equity {flags.equity:,.2f} is under {PDT_MIN_EQUITY:,.0f} with "
            f"{flags.daytrade_count} day trade(s) in 5 days{' (flagged PDT)' if flags.pattern_day_trader else ''}: "
            "the broker may refuse to close a position opened today; exits may have to wait for the next day")
