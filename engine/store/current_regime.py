"""The ONE way everything downstream reads the regime the engine acts on (planner job, presets by regime,
position sizing, risk, backtests, Overview/Regime pages, /metrics): the newest snapshot's effective regime.

A snapshot stored before migration 0012 has no effective columns: its rule-based regime is the answer.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, desc, select
from sqlalchemy.orm import Session

from engine.store.models import RegimeSnapshot

UNCERTAIN_PREFIX = "regime uncertain"  # how uncertain_note starts (the Planner page labels such a plan)


@dataclass(frozen=True, slots=True)
class EffectiveRegime:
    """The regime the engine acts on, beside the rule-based one it came from (decided by
    engine/regime/ensemble/effective.py; defined here so the store's reader can extend it)."""

    regime_id: int | None  # None: uncertain under CONSERVATIVE handling, no regime and no new exposure
    regime_name: str | None
    status: str  # disabled | no_model | agree | rules | ensemble | uncertain (| legacy: stored before 0012)
    reason: str
    rule_regime_id: int
    rule_regime_name: str

    @property
    def no_new_exposure(self) -> bool:
        """No regime to act on: the planner proposes only reductions or holding."""
        return self.regime_id is None

    @property
    def differs(self) -> bool:
        return self.regime_id != self.rule_regime_id


@dataclass(frozen=True, slots=True)
class CurrentRegime(EffectiveRegime):
    """A stored snapshot's effective regime, with the bar it belongs to."""

    confidence: float  # the rule classifier's
    is_transition: bool
    ts: datetime
    symbol: str


def of_snapshot(snap: RegimeSnapshot) -> CurrentRegime:
    """The effective regime a stored snapshot carries."""
    rid: int | None
    name: str | None
    if snap.regime_status is None:  # stored before the effective regime was recorded
        rid, name, status, reason = (snap.regime_id, snap.regime_name, "legacy",
                                     "stored before the effective regime was recorded: the rule-based regime")
    else:
        rid, name = snap.effective_regime_id, snap.effective_regime_name
        status, reason = snap.regime_status, snap.regime_reason or ""
    return CurrentRegime(rid, name, status, reason, snap.regime_id, snap.regime_name, float(snap.confidence),
                         bool(snap.is_transition), snap.ts, snap.symbol)


# Built once: read several times a cycle, and building a statement cost more than running it (SQLite).
_NEWEST = select(RegimeSnapshot).order_by(desc(RegimeSnapshot.id)).limit(1)
_NEWEST_OF = _NEWEST.where(RegimeSnapshot.symbol == bindparam("symbol"))


def current_regime(session: Session, symbol: str | None = None) -> CurrentRegime | None:
    """The newest snapshot's effective regime (of `symbol` when given); None before the first classification."""
    if symbol is None:
        snap = session.scalars(_NEWEST).first()
    else:
        snap = session.scalars(_NEWEST_OF, {"symbol": symbol}).first()
    return of_snapshot(snap) if snap is not None else None


def effective_names(session: Session, symbol: str) -> list[tuple[datetime, str]]:
    """Every stored snapshot of `symbol`, oldest first: (ts, the effective regime's name), "uncertain" when
    there was none (a backtest's equity rows carry it); a snapshot stored before 0012 gives its rule-based name."""
    rows = session.execute(select(RegimeSnapshot.ts, RegimeSnapshot.regime_status, RegimeSnapshot.effective_regime_name,
                                  RegimeSnapshot.regime_name).where(RegimeSnapshot.symbol == symbol)
                           .order_by(RegimeSnapshot.ts, RegimeSnapshot.id)).all()
    return [(ts, rule if status is None else (eff if eff is not None else "uncertain"))
            for ts, status, eff, rule in rows]


def uncertain_note(regime: CurrentRegime | None) -> str | None:
    """Why no new exposure is planned, or None when a regime is in force (or none was classified yet)."""
    if regime is None or not regime.no_new_exposure:
        return None
    return (f"{UNCERTAIN_PREFIX} (rules say {regime.rule_regime_name}; {regime.reason}): RiskControls "
            "regime_uncertainty_handling CONSERVATIVE - no new exposure, only reductions or holding")
