"""The stored reason of an order the gateway's broker step refused: did it reach the broker or not?

"broker: <why>": the broker answered (Alpaca's 403/422, an order it holds as rejected). Only these count toward
the rejection trigger (engine/trading/triggers.py counts reasons starting with "broker:"): many of them mean the
broker is refusing us, and trading halts.
"not sent: <why>": nothing reached the broker: its session refuses the order now (the market is closed, only
limit orders in extended hours), no request budget or time was left, the circuit is open, trading was halted
right before the POST, or a native stop on the same shares filled first. A local refusal like a risk check's:
twenty buys after the close must not halt the desk (and the halt cancel orders at the broker).
"""
from __future__ import annotations

from engine.trading.brokers.base import BrokerNotSent

BROKER_PREFIX = "broker: "
NOT_SENT_PREFIX = "not sent: "
# the broker adapters' words for a refusal made before any request left (alpaca_submit: "<where>: not sent: <why>")
_NOT_SENT_MARKS = (": not sent: ", ": not sent; ")


def sent_nothing(message: str) -> bool:
    """Does the adapter's message say the order never left this process? (An OrderRejected carries it in words.)"""
    if message.startswith(NOT_SENT_PREFIX):
        return True
    at = min((i for i in (message.find(m) for m in _NOT_SENT_MARKS) if i >= 0), default=-1)
    return at >= 0 and "rejected by" not in message[:at]


def failure_reason(exc: Exception) -> str:
    """The reject_reason to store for a broker-step failure: "not sent: ..." or "broker: ..."."""
    message = str(exc) or "rejected by the broker"
    if not isinstance(exc, BrokerNotSent) and not sent_nothing(message):
        return BROKER_PREFIX + message
    if message.startswith(NOT_SENT_PREFIX):
        return message
    for mark in _NOT_SENT_MARKS:  # "<where>: not sent: <why>" -> "not sent: <where>: <why>" (said once)
        if mark in message:
            return NOT_SENT_PREFIX + message.replace(mark, ": ", 1)
    return NOT_SENT_PREFIX + message


def reached_broker(reason: str | None) -> bool:
    """False for a rejection stored as not sent (nothing reached the broker)."""
    return not (reason or "").startswith(NOT_SENT_PREFIX)
