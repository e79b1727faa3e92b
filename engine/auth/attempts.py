"""Login attempts in the store: the lockout's counting, client address buckets and the per-name lock.

The lockout counts failed logins per (name, address bucket). The count and the attempt's own row are one step
under a per-name lock (PostgreSQL: a transaction-scoped advisory lock; SQLite: the write transaction's BEGIN
IMMEDIATE), taken before the argon2 check: the attempt is recorded as failed first and turned into a success
only when the password matched. So concurrent requests cannot all read "4 failures" and all check a password
(a burst of 30 once checked 29), and a crash between the two steps leaves a failure, never a free guess.
"""
from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from engine.store.models import LoginAttempt

MAX_FAILURES = 5
LOCK_WINDOW = timedelta(minutes=15)
IPV6_PREFIX = 64  # one IPv6 customer or host gets a whole /64: its 2^64 addresses are one guesser
_LOCK_SPACE = 0x4C4F474E  # "LOGN": the first key of the per-name PostgreSQL advisory locks


def address_bucket(address: str) -> str:
    """The key a client address is counted under: an IPv4 address itself, an IPv6 address's /64 network
    (an IPv4-mapped IPv6 address as its IPv4 address); anything that is not an address, as given (cut to 64)."""
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/{IPV6_PREFIX}", strict=False))
    return str(ip)


def lock_name(s: Session, name: str) -> None:
    """Serialise this transaction with every other one that locks `name` (PostgreSQL; on SQLite a write
    transaction holds the database's write lock from BEGIN IMMEDIATE, which serialises them already)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:space, hashtext(:name))"), {"space": _LOCK_SPACE, "name": name})


def failures(s: Session, now: datetime, name: str, source: str, changed_at: datetime | None) -> int:
    """Failed logins for (name, source) that count towards its lock: within LOCK_WINDOW, after the pair's last
    successful login and after the user's last admin change (changed_at)."""
    last_ok = s.scalar(select(func.max(LoginAttempt.ts)).where(
        LoginAttempt.username == name, LoginAttempt.source == source, LoginAttempt.ok.is_(True)))
    since = max(t for t in (now - LOCK_WINDOW, last_ok, changed_at) if t is not None)
    return int(s.scalar(select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.username == name, LoginAttempt.source == source, LoginAttempt.ok.is_(False),
        LoginAttempt.ts > since)) or 0)


def claim(s: Session, now: datetime, name: str, source: str, changed_at: datetime | None) -> tuple[int, int]:
    """Count (name, source)'s failures and record this attempt as failed, atomically (call inside a write
    transaction). Returns (failures before this attempt, the attempt's id for `succeeded`)."""
    lock_name(s, name)
    before = failures(s, now, name, source, changed_at)
    row = LoginAttempt(ts=now, username=name, source=source, ok=False)
    s.add(row)
    s.flush()
    return before, int(row.id)


def succeeded(s: Session, attempt_id: int) -> None:
    """The claimed attempt's password matched: it counts as a successful login (which ends the pair's count)."""
    s.execute(update(LoginAttempt).where(LoginAttempt.id == attempt_id).values(ok=True))
