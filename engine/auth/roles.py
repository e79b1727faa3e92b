"""The three roles and what each may do; one ranking shared by the web guard and the trade controls.

viewer: read everything, and press the kill switch (HALT without flatten): stopping never waits for
a login with more rights. trader: also every trading action. admin: also parameters and users.
"""
from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    TRADER = "trader"
    ADMIN = "admin"


RANK: dict[str, int] = {Role.VIEWER: 0, Role.TRADER: 1, Role.ADMIN: 2}
ROLE_NAMES = tuple(r.value for r in Role)


class UnknownRole(ValueError):
    pass


def parse_role(value: object) -> Role:
    try:
        return Role(str(value).strip().lower())
    except ValueError:
        raise UnknownRole(f"unknown role {value!r}; use one of: {', '.join(ROLE_NAMES)}") from None


def at_least(role: str | None, needed: str) -> bool:
    """True when `role` ranks at least as high as `needed` (an unknown or missing role ranks below all)."""
    return role is not None and RANK.get(role, -1) >= RANK[needed]
