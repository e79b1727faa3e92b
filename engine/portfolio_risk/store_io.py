"""Risk history rows and user stress scenarios in the store.

Scenarios are saved and deleted by a trader (the page checks the role); each change is audited in
the same transaction. History rows keep the scalar figures for charts and /metrics; the newest full
report (what the Risk page draws) is one engine_kv row replaced every cycle, so history stays small.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import audit
from engine.params.versions import active_params
from engine.portfolio_risk.limits import Breach, PortfolioLimits
from engine.portfolio_risk.report import RiskReport
from engine.portfolio_risk.stress import INDEX_KEY, UserScenario
from engine.store.models import Instrument, KeyValue, PositionRow, RiskSnapshotRow, StressScenarioRow

MAX_SCENARIOS = 50
REPORT_KEY = "portfolio_risk.report"
HISTORY_COLUMNS = ("ts", "hist_var_95", "hist_cvar_95", "hist_var_99", "hist_cvar_99", "param_var_95",
                   "param_cvar_95", "param_var_99", "param_cvar_99", "beta", "gross", "worst_stress_pnl")


class ScenarioError(ValueError):
    """A user scenario that cannot be saved; the message says what and where."""


def save_snapshot(session: Session, now: datetime, report: RiskReport, found: list[Breach]) -> RiskSnapshotRow:
    worst = report.worst_scenario
    row = RiskSnapshotRow(
        ts=now, equity=report.equity, gross=report.sides.get("gross", 0.0), net=report.sides.get("net", 0.0),
        hist_var_95=report.figure("historical", 0.95, "var"), hist_cvar_95=report.figure("historical", 0.95),
        hist_var_99=report.figure("historical", 0.99, "var"), hist_cvar_99=report.figure("historical", 0.99),
        param_var_95=report.figure("parametric", 0.95, "var"), param_cvar_95=report.figure("parametric", 0.95),
        param_var_99=report.figure("parametric", 0.99, "var"), param_cvar_99=report.figure("parametric", 0.99),
        beta=report.book_beta, cluster_net=report.cluster.net_exposure,
        worst_stress_pnl=worst.pnl if worst else None,
        breaches=[{"limit": b.limit, "value_pct": b.value_pct, "limit_pct": b.limit_pct, "reason": b.reason}
                  for b in found],
    )
    session.add(row)
    return row


_REPORT_ROW = select(KeyValue).where(KeyValue.key == REPORT_KEY)  # built once: session.get builds it per call


def save_report(session: Session, now: datetime, report: RiskReport, found: list[Breach]) -> None:
    """Replace the newest full report (engine_kv REPORT_KEY)."""
    value = {"ts": now.isoformat(), "report": report.to_json(),
             "breaches": [{"limit": b.limit, "reason": b.reason} for b in found]}
    row = session.scalars(_REPORT_ROW).first()
    if row is None:
        session.add(KeyValue(key=REPORT_KEY, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now


def latest_report(session: Session) -> dict[str, Any] | None:
    row = session.get(KeyValue, REPORT_KEY)
    return dict(row.value) if row is not None and isinstance(row.value, dict) else None


def latest_snapshot(session: Session) -> RiskSnapshotRow | None:
    return session.scalars(select(RiskSnapshotRow).order_by(RiskSnapshotRow.id.desc()).limit(1)).first()


def snapshot_history(session: Session, limit: int = 500) -> pd.DataFrame:
    """The newest `limit` rows' scalar figures, oldest first."""
    cols = [getattr(RiskSnapshotRow, c) for c in HISTORY_COLUMNS]
    rows = session.execute(select(*cols).order_by(RiskSnapshotRow.id.desc()).limit(limit)).all()
    return pd.DataFrame(rows, columns=list(HISTORY_COLUMNS)).iloc[::-1].reset_index(drop=True)


_SCENARIOS = select(StressScenarioRow).order_by(StressScenarioRow.name)  # built once: read every risk cycle


def user_scenarios(session: Session) -> list[UserScenario]:
    rows = session.scalars(_SCENARIOS)
    return [UserScenario(r.name, {str(k): float(v) for k, v in (r.shocks or {}).items()}) for r in rows]


def scenario_keys(session: Session) -> tuple[set[str], set[str]]:
    """(symbols, groups) a user scenario may shock: the instruments and held names the risk cycle can
    price, and the symbols and groups of the active parameters' Risk Groups table (what stress.user matches)."""
    groups = PortfolioLimits.from_params(active_params(session)).groups
    symbols = set(session.scalars(select(Instrument.symbol))) | set(session.scalars(select(PositionRow.symbol)))
    return symbols | set(groups), set(groups.values())


def idle_keys(session: Session, spec: UserScenario) -> list[str]:
    """The keys of `spec` that move no position held now, by stress.user's precedence (symbol > group > INDEX):
    a symbol not held, a group none of whose held names lacks its own shock, INDEX with every held name shocked.
    None while nothing is held (the Risk page then lists no scenario at all)."""
    held = [sym for sym, qty in session.execute(select(PositionRow.symbol, PositionRow.qty)) if qty]
    if not held:
        return []
    groups = PortfolioLimits.from_params(active_params(session)).groups
    used = {sym if sym in spec.shocks else group if (group := groups.get(sym)) is not None and group in spec.shocks
            else INDEX_KEY for sym in held}
    return [key for key in spec.shocks if key not in used]


def user_scenario(session: Session, name: str) -> UserScenario | None:
    """The saved scenario named `name` (exact), or None."""
    row = session.scalars(select(StressScenarioRow).where(StressScenarioRow.name == name)).first()
    return None if row is None else UserScenario(row.name, {str(k): float(v) for k, v in (row.shocks or {}).items()})


def check_user_scenario(session: Session, spec: UserScenario) -> None:
    """ScenarioError for a built-in name or a shock on a symbol or group the risk engine does not know (it
    would shock nothing): what save_user_scenario refuses, checked before the web page asks to replace one."""
    try:
        spec.validate(*scenario_keys(session))
    except ValueError as exc:
        raise ScenarioError(str(exc)) from None


def save_user_scenario(session: Session, now: datetime, actor: str, spec: UserScenario) -> None:
    """Create or replace a scenario by name (audited); refused (ScenarioError) as check_user_scenario says."""
    check_user_scenario(session, spec)
    row = session.scalars(select(StressScenarioRow).where(StressScenarioRow.name == spec.name)).first()
    details: dict[str, Any] = {"shocks": dict(spec.shocks)}
    if row is None:
        count = len(list(session.scalars(select(StressScenarioRow.id))))
        if count >= MAX_SCENARIOS:
            raise ScenarioError(f"at most {MAX_SCENARIOS} scenarios are kept; delete one before adding {spec.name!r}")
        session.add(StressScenarioRow(name=spec.name, shocks=dict(spec.shocks), created_by=actor, updated_at=now))
    else:
        details["before"] = dict(row.shocks or {})
        row.shocks, row.created_by, row.updated_at = dict(spec.shocks), actor, now
    audit.record(session, now, actor, "risk.scenario.save", target=spec.name, details=details)


def delete_user_scenario(session: Session, now: datetime, actor: str, name: str) -> bool:
    """Delete a scenario by name (audited); False when there was none."""
    row = session.scalars(select(StressScenarioRow).where(StressScenarioRow.name == name)).first()
    if row is None:
        return False
    audit.record(session, now, actor, "risk.scenario.delete", target=name, details={"shocks": dict(row.shocks or {})})
    session.delete(row)
    return True
