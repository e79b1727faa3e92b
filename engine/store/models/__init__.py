"""The store's tables: the only thing the web and the engine share (one module per area).

Engine-owned state (bars, orders, regime snapshots) is written by the engine; the web writes
commands, parameter versions and the trading state through engine command functions, all audited.
Importing this package registers every table on Base.metadata (Alembic and create_all read it there).
"""
from engine.store.models.accounts import AuditEvent, LoginAttempt, User
from engine.store.models.backtests import BacktestFile, BacktestRun
from engine.store.models.base import PK, Base
from engine.store.models.cash_flows import CashFlowRow
from engine.store.models.execution import ParentChild, ParentOrder, ProtectiveStop
from engine.store.models.market import (
    BarRow,
    Instrument,
    OptionChainSnapshot,
    TrueRegimeRow,
)
from engine.store.models.operations import (
    EngineHeartbeat,
    EngineLease,
    HealthResult,
    JobRun,
    KeyValue,
)
from engine.store.models.paper import PaperAccount, PaperFill, PaperOrder, PaperPosition
from engine.store.models.planner import (
    PlannerPlan,
    PlannerPresetVersion,
    PlannerRegimePreset,
)
from engine.store.models.regime import (
    EnsembleModelRow,
    ParamVersion,
    RegimeSnapshot,
    TuningProposal,
)
from engine.store.models.risk import RiskSnapshotRow, StressScenarioRow
from engine.store.models.trading import (
    AccountSnapshot,
    CommandRow,
    FillRow,
    OrderRow,
    PositionRow,
    ReconciliationRun,
    TradingStateChange,
    TradingStateRow,
)

__all__ = ["AccountSnapshot", "AuditEvent", "BacktestFile", "BacktestRun", "BarRow", "Base", "CashFlowRow", "CommandRow", "EngineHeartbeat", "EngineLease", "EnsembleModelRow", "FillRow", "HealthResult", "Instrument", "JobRun", "KeyValue", "LoginAttempt", "OptionChainSnapshot", "OrderRow", "PK", "PaperAccount", "PaperFill", "PaperOrder", "PaperPosition", "ParamVersion", "ParentChild", "ParentOrder", "PlannerPlan", "PlannerPresetVersion", "PlannerRegimePreset", "PositionRow", "ProtectiveStop", "ReconciliationRun", "RegimeSnapshot", "RiskSnapshotRow", "StressScenarioRow", "TradingStateChange", "TradingStateRow", "TrueRegimeRow", "TuningProposal", "User"]
