"""A stable hash of everything a plan depends on (portfolio, prices, preset), so a preview is recomputed
only when one of them changed."""
from __future__ import annotations

import hashlib
import json

import pandas as pd

from engine.planner.preset import PlannerPreset
from engine.planner.types import PortfolioState


def plan_cache_key(state: PortfolioState, preset: PlannerPreset) -> str:
    digest = hashlib.sha256()
    if not state.history.empty:
        digest.update(pd.util.hash_pandas_object(state.history, index=True).to_numpy().tobytes())
        digest.update(json.dumps([str(c) for c in state.history.columns]).encode())
    facts = {
        "positions": sorted((h.symbol, h.qty, h.avg_price, str(h.opened_at)) for h in state.positions.values()),
        "cash": state.cash, "regime": state.regime, "hold": state.regime_hold, "state": state.trading_state, "now": str(state.now),
        "targets": sorted((state.fixed_targets or {}).items()), "open": sorted(state.open_symbols),
        "last": sorted((s, str(t.ts), t.side) for s, t in state.last_trades.items()),
        "caps": sorted((state.size_caps or {}).items()), "limits": repr(state.limits),
        "preset": [preset.name, sorted((k, repr(v)) for k, v in preset.to_flat().items())],
    }
    digest.update(json.dumps(facts, default=str).encode())
    return digest.hexdigest()
