"""What a refused or hostile request must not change: a fingerprint of the store's state-bearing rows.

The audit trail is left out on purpose (refusals are recorded there), and so are market data and
health rows, which an engine or a health job may write meanwhile.
"""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from engine.store.models import (
    CommandRow,
    KeyValue,
    OrderRow,
    PaperOrder,
    ParamVersion,
    PositionRow,
    TradingStateRow,
    User,
)


def fingerprint(store: Any) -> dict[str, Any]:
    with store.read() as s:
        state = s.scalars(select(TradingStateRow)).first()
        active = s.scalar(select(ParamVersion.id).where(ParamVersion.is_active.is_(True)))
        kv = {row.key: row.value for row in s.scalars(select(KeyValue).where(KeyValue.key.not_like("health%")))
              if not row.key.startswith(("equity", "last_", "engine", "market", "reconcile", "auth.setup"))}
        return {
            "state": (state.state, state.reason) if state is not None else None,
            "commands": s.scalar(select(func.count()).select_from(CommandRow)),
            "orders": s.scalar(select(func.count()).select_from(OrderRow)),
            "paper_orders": s.scalar(select(func.count()).select_from(PaperOrder)),
            "positions": s.scalar(select(func.count()).select_from(PositionRow)),
            "param_versions": s.scalar(select(func.count()).select_from(ParamVersion)),
            "active_version": active,
            "users": sorted((u.name, u.role, u.disabled, u.session_epoch) for u in s.scalars(select(User))),
            "kv": json.dumps(kv, sort_keys=True, default=str),
        }
