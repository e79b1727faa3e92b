"""Alpaca account fields that are zero are values, not missing (audit 4)."""
from __future__ import annotations

import uuid
from decimal import Decimal

from alpaca.trading.models import TradeAccount

from engine.trading.brokers.alpaca_mapping import to_account


def _account(**fields: str | None) -> TradeAccount:
    return TradeAccount(id=uuid.uuid4(), account_number="PA0000FAKE", status="ACTIVE", currency="USD", **fields)


def test_zero_equity_is_zero_not_cash() -> None:
    # cash 10,000 and short 100 AAA now at 100: equity 0
    acct = to_account(_account(cash="10000", equity="0", portfolio_value="0", buying_power="0"))
    assert (acct.equity, acct.cash, acct.buying_power) == (Decimal(0), Decimal(10000), Decimal(0))


def test_missing_equity_falls_back_to_portfolio_value_then_cash() -> None:
    assert to_account(_account(cash="500", equity=None, portfolio_value="0")).equity == Decimal(0)
    assert to_account(_account(cash="500", equity=None, portfolio_value=None)).equity == Decimal(500)
