"""Walk-forward validation of any stored parameter version against the version before it, by backtests on the
store's history (ValidationFramework validation_source: RegimeDesk has no HeavyDB; DATABASE, HEAVYDB and
SIMULATED all mean the store's bars here). The folds, caps, scores and test: engine/tuning/backtest_validation.py.
The backtests use the active planner preset (the built-in default and the store's regime -> preset table),
as the live planner job does."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from engine.backtest.inputs import BacktestCancelled, BacktestError, load_stored_history, regime_table_presets
from engine.params.typed import Parameters
from engine.params.versions import get_version
from engine.planner.api import load_preset
from engine.store.db import Store
from engine.store.models import BarRow, ParamVersion
from engine.tuning.backtest_validation import BacktestSetup, Progress, validate_by_backtest
from engine.tuning.validation import ValidationConfig, ValidationReport

MAX_BARS = 3000  # newest stored index bars the folds are cut from (validation_split of them held out)
MIN_BARS = 100


class VersionCheckError(ValueError):
    """A version that cannot be validated (unknown, no parent, no history); the message says which."""


def stored_setup(store: Store, since: datetime, index_symbol: str | None = None) -> BacktestSetup:
    """Every symbol's stored bars from `since`, with the active planner preset(s); BacktestError when none."""
    frames, index = load_stored_history(store, start=since)
    if index_symbol is not None and index_symbol in frames:
        index = index_symbol
    return BacktestSetup(frames, index, load_preset("default"), regime_table_presets(store))


def validate_version(store: Store, version_id: int, symbol: str, *, progress: Progress | None = None,
                     cancelled: Callable[[], bool] | None = None) -> ValidationReport:
    """Version `version_id` (the candidate) against its parent (the current one at the time), by backtests on
    stored bars; raises BacktestCancelled when `cancelled()` says so."""
    with store.read() as s:
        row = s.get(ParamVersion, version_id)
        if row is None:
            raise VersionCheckError(f"parameter version {version_id} does not exist")
        if row.parent_id is None:
            raise VersionCheckError(f"version {version_id} is the first version: nothing to compare it with")
        cand, cur = get_version(s, version_id), get_version(s, row.parent_id)
        limit = min(MAX_BARS, Parameters(cur).adaptive_tuning.historical_lookback_days * 390)
        first = s.scalars(select(BarRow.ts).where(BarRow.symbol == symbol).order_by(BarRow.ts.desc())
                          .limit(limit)).all()
    if len(first) < MIN_BARS:
        raise VersionCheckError(f"only {len(first)} stored bars of {symbol}: at least {MIN_BARS} are needed")
    try:
        setup = stored_setup(store, min(first), symbol)
        return validate_by_backtest(cur, cand, setup, ValidationConfig.of(cur), progress=progress,
                                    cancelled=cancelled)
    except BacktestCancelled:
        raise
    except BacktestError as exc:
        raise VersionCheckError(f"version {version_id}: the validation backtest cannot run: {exc}") from None
