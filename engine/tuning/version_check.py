"""Walk-forward validation of any stored parameter version against the version before it, on the store's
history (ValidationFramework validation_source: RegimeDesk has no HeavyDB; DATABASE, HEAVYDB and
SIMULATED all mean the store's bars here, which on the simulated market carry the true regime path)."""
from __future__ import annotations

from sqlalchemy import select

from engine.params.typed import Parameters
from engine.params.versions import get_version
from engine.store.db import Store
from engine.store.models import BarRow, ParamVersion, TrueRegimeRow
from engine.tuning.validation import ValidationConfig, ValidationReport, detected, objective_of, validate

MAX_BARS = 3000  # newest stored bars replayed (twice) per request: bounded for a click on the Parameters page


class VersionCheckError(ValueError):
    """A version that cannot be validated (unknown, no parent, no history); the message says which."""


def validate_version(store: Store, version_id: int, symbol: str) -> ValidationReport:
    """Version `version_id` (the candidate) against its parent (the current one at the time) on stored bars."""
    import pandas as pd

    with store.read() as s:
        row = s.get(ParamVersion, version_id)
        if row is None:
            raise VersionCheckError(f"parameter version {version_id} does not exist")
        if row.parent_id is None:
            raise VersionCheckError(f"version {version_id} is the first version: nothing to compare it with")
        cand, cur = get_version(s, version_id), get_version(s, row.parent_id)
        limit = min(MAX_BARS, Parameters(cur).adaptive_tuning.historical_lookback_days * 390)
        rows = s.execute(select(BarRow.ts, BarRow.open, BarRow.high, BarRow.low, BarRow.close, BarRow.volume)
                         .where(BarRow.symbol == symbol).order_by(BarRow.ts.desc()).limit(limit)).all()[::-1]
        if len(rows) < 100:
            raise VersionCheckError(f"only {len(rows)} stored bars of {symbol}: at least 100 are needed")
        truth = pd.DataFrame([(t.ts, t.trend, t.volatility) for t in s.scalars(
            select(TrueRegimeRow).where(TrueRegimeRow.ts >= rows[0].ts))], columns=["timestamp", "trend", "volatility"])
    bars = pd.DataFrame(rows, columns=["timestamp", "open", "high", "low", "close", "volume"])
    t = truth if len(truth) else None
    return validate(cur, cand, detected(cur, bars, t, symbol), detected(cand, bars, t, symbol),
                    ValidationConfig.of(cur), objective_of(cur))
