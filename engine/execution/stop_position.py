"""What a protective stop reads of the position it protects: its average entry price (what the stop-loss and the
take-profit are measured from).

Why: the entry was taken from the stop row, set when the stop was attached: a position scaled into at another
price kept its stop-loss measured from the first entry, while the trader, the positions table and the P&L
(engine/trading/sync.py: (market - avg_entry_price) * qty) all read the average entry. Now the entry is the
position's average entry price as the broker reports it (the paper broker's book, Alpaca's avg_entry_price),
whenever that is a valid price and the position is held the stop's way. (The holding clock of the maximum holding
time starts when the first stop is attached and an edit keeps it: engine/execution/protect.py attach_stop.)
"""
from __future__ import annotations

from decimal import Decimal

from engine.store.models import ProtectiveStop
from engine.trading.marks import valid_price


def average_entry(row: ProtectiveStop, qty: Decimal, avg_entry_price: Decimal | None) -> Decimal:
    """The entry the stop's levels are measured from: the position's average entry price while the position is held
    the stop's way and its price is valid, else the entry stored on the stop."""
    held = qty != 0 and (qty > 0) == (row.direction > 0)
    return avg_entry_price if held and valid_price(avg_entry_price) else row.entry_price
