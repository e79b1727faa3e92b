"""Who is acting in this request or command: name, role and source address.

The web guard sets it for each request (from the login session); the audit trail reads it, so
every audit row written while serving a request records the user's role and address without each
caller passing them along. Outside a request (engine jobs, CLI) it is empty.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    source: str

    @property
    def actor(self) -> str:
        """The audit trail's actor for this person: "web:<name>"."""
        return f"web:{self.name}"[:64]


ANONYMOUS = Principal("", "", "")
_current: ContextVar[Principal] = ContextVar("regimedesk_principal", default=ANONYMOUS)


def current() -> Principal:
    return _current.get()


def set_current(principal: Principal) -> Token[Principal]:
    return _current.set(principal)


def reset(token: Token[Principal]) -> None:
    _current.reset(token)


@contextmanager
def acting_as(principal: Principal) -> Iterator[Principal]:
    token = _current.set(principal)
    try:
        yield principal
    finally:
        _current.reset(token)
