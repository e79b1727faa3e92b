"""The store's tables: the only thing the web and the engine share.

Engine-owned state (bars, orders, regime snapshots) is written by the engine; the web writes
commands, parameter versions and the trading state through engine command functions, all audited.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from engine.store.types import Money, UTCDateTime

PK = BigInteger().with_variant(Integer, "sqlite")  # SQLite only autoincrements INTEGER PRIMARY KEY


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), Decimal: Money(), dict: JSON, list: JSON}


class Instrument(Base):
    __tablename__ = "instruments"
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # index | stock
    has_options: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(16))


class BarRow(Base):
    __tablename__ = "bars"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(32))
    ts: Mapped[datetime]
    open: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    close: Mapped[float] = mapped_column(Float)
    volume: Mapped[float] = mapped_column(Float)
    __table_args__ = (UniqueConstraint("symbol", "ts", name="uq_bars_symbol_ts"), Index("ix_bars_ts", "ts"))


class OptionChainSnapshot(Base):
    """One chain per underlying and tick; columns stored as a compressed .npz blob (about 250 rows each)."""

    __tablename__ = "option_chain_snapshots"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    underlying: Mapped[str] = mapped_column(String(32))
    ts: Mapped[datetime]
    spot: Mapped[float] = mapped_column(Float)
    contracts: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    __table_args__ = (Index("ix_chain_underlying_ts", "underlying", "ts"),)


class TrueRegimeRow(Base):
    """The simulated market's hidden regime path, kept apart so detection can be scored against it."""

    __tablename__ = "sim_true_regimes"
    ts: Mapped[datetime] = mapped_column(primary_key=True)
    trend: Mapped[str] = mapped_column(String(16))
    volatility: Mapped[str] = mapped_column(String(16))


class AccountSnapshot(Base):
    __tablename__ = "account_snapshots"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    broker: Mapped[str] = mapped_column(String(16))
    cash: Mapped[Decimal]
    equity: Mapped[Decimal]
    buying_power: Mapped[Decimal]
    gross_exposure: Mapped[Decimal]


class PositionRow(Base):
    """The engine's latest view of broker positions (replaced on every snapshot)."""

    __tablename__ = "positions"
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    qty: Mapped[Decimal]
    avg_entry_price: Mapped[Decimal]
    market_price: Mapped[Decimal | None]
    unrealized_pnl: Mapped[Decimal | None]
    updated_at: Mapped[datetime]


class OrderRow(Base):
    """Every order the gateway created, stored before it is sent and updated from broker events."""

    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    broker_order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    qty: Mapped[Decimal]
    order_type: Mapped[str] = mapped_column(String(16))
    limit_price: Mapped[Decimal | None]
    status: Mapped[str] = mapped_column(String(24), index=True)
    filled_qty: Mapped[Decimal] = mapped_column(default=Decimal(0))
    filled_avg_price: Mapped[Decimal | None]
    reject_reason: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(24))  # planner | manual | flatten | kill_switch
    actor: Mapped[str] = mapped_column(String(64))
    param_version_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    lease_epoch: Mapped[int | None]  # the engine lease epoch it was recorded under (None: web, CLI)


class FillRow(Base):
    __tablename__ = "fills"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    fill_key: Mapped[str] = mapped_column(String(96), unique=True)  # broker order id + cumulative qty
    client_order_id: Mapped[str] = mapped_column(String(64), index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    qty: Mapped[Decimal]
    price: Mapped[Decimal]
    commission: Mapped[Decimal]
    ts: Mapped[datetime] = mapped_column(index=True)


class EngineHeartbeat(Base):
    """One row per engine process; the row holding an unexpired lease is the active engine."""

    __tablename__ = "engine_heartbeats"
    engine_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(128))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    last_beat: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))  # active | standby | stopped


class EngineLease(Base):
    """Exactly one active engine: the holder renews lease_until; a standby takes over when it lapses."""

    __tablename__ = "engine_lease"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    lease_until: Mapped[datetime]
    epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # +1 on every takeover: the fencing token


class JobRun(Base):
    __tablename__ = "job_runs"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(48))
    engine_id: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    duration_ms: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(16))  # ok | error | skipped
    error: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (Index("ix_job_runs_job_started", "job", "started_at"),)


class TradingStateRow(Base):
    """The single current trading state (id = 1). History lives in trading_state_changes."""

    __tablename__ = "trading_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime]
    previous_state: Mapped[str | None] = mapped_column(String(16))


class TradingStateChange(Base):
    __tablename__ = "trading_state_changes"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)


class CommandRow(Base):
    """A request from the web (or CLI) to the engine; the engine runs it and writes the result."""

    __tablename__ = "commands"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | running | done | failed
    result: Mapped[dict | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class AuditEvent(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48), index=True)
    target: Mapped[str] = mapped_column(String(128), default="")
    details: Mapped[dict] = mapped_column(default=dict)
    outcome: Mapped[str] = mapped_column(String(16), default="ok")
    role: Mapped[str] = mapped_column(String(16), default="")  # the web user's role; "" for the engine and the CLI
    source: Mapped[str] = mapped_column(String(64), default="")  # client address (web), host:pid (CLI), "" (engine)


class User(Base):
    """A person who may log in to the dashboard; the password is an argon2id hash, never the password."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # viewer | trader | admin
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)  # bumped on passwd/role/disable: old sessions end
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class LoginAttempt(Base):
    """One login attempt (also unknown names), so lockouts hold across web workers and restarts."""

    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    ts: Mapped[datetime]
    username: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    ok: Mapped[bool] = mapped_column(Boolean)
    __table_args__ = (Index("ix_login_attempts_username_ts", "username", "ts"),)


class ParamVersion(Base):
    """An immutable applied parameter set; exactly one row is_active."""

    __tablename__ = "param_versions"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime]
    author: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))  # default | upload | ui | rollback | cli
    note: Mapped[str] = mapped_column(Text, default="")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("param_versions.id"))
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    values_json: Mapped[str] = mapped_column(Text)
    diff_json: Mapped[str] = mapped_column(Text, default="[]")
    is_active: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    __table_args__ = (  # at most one active version, even when two applies race
        Index("uq_param_versions_one_active", "is_active", unique=True,
              postgresql_where=text("is_active"), sqlite_where=text("is_active")),
    )


class RegimeSnapshot(Base):
    """One regime classification per engine cycle, with the parameter version that produced it."""

    __tablename__ = "regime_snapshots"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    regime_id: Mapped[int] = mapped_column(Integer)
    regime_name: Mapped[str] = mapped_column(String(48))
    confidence: Mapped[float] = mapped_column(Float)
    raw_score: Mapped[float] = mapped_column(Float)
    volatility_value: Mapped[float] = mapped_column(Float)
    volatility_class: Mapped[str] = mapped_column(String(16))
    trend_value: Mapped[float] = mapped_column(Float)
    trend_class: Mapped[str] = mapped_column(String(24))
    time_in_regime_s: Mapped[float] = mapped_column(Float)
    is_transition: Mapped[bool] = mapped_column(Boolean, default=False)
    transition_rule: Mapped[str | None] = mapped_column(String(32))
    param_version_id: Mapped[int | None]
    modules: Mapped[dict] = mapped_column(default=dict)
    # the regime the engine acts on (engine/regime/ensemble/effective.py); regime_id/regime_name are the
    # rule-based answer. Read both through engine.store.current_regime. NULL status: stored before 0012.
    effective_regime_id: Mapped[int | None] = mapped_column(Integer)  # NULL with status uncertain: no regime
    effective_regime_name: Mapped[str | None] = mapped_column(String(48))
    regime_status: Mapped[str | None] = mapped_column(String(16))  # disabled|no_model|agree|rules|ensemble|uncertain
    regime_reason: Mapped[str | None] = mapped_column(Text)


class KeyValue(Base):
    """Small engine facts that must survive a restart (equity peak, last reconciliation...)."""

    __tablename__ = "engine_kv"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict]
    updated_at: Mapped[datetime]


class PaperAccount(Base):
    """The paper broker's own books (broker truth for the embedded default), separate from ours."""

    __tablename__ = "paper_account"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cash: Mapped[Decimal]
    realized_pnl: Mapped[Decimal]
    commissions: Mapped[Decimal]
    updated_at: Mapped[datetime]


class PaperOrder(Base):
    __tablename__ = "paper_orders"
    broker_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    qty: Mapped[Decimal]
    order_type: Mapped[str] = mapped_column(String(16))
    limit_price: Mapped[Decimal | None]
    status: Mapped[str] = mapped_column(String(24), index=True)
    filled_qty: Mapped[Decimal]
    filled_avg_price: Mapped[Decimal | None]
    reject_reason: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(index=True)


class PaperPosition(Base):
    __tablename__ = "paper_positions"
    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    qty: Mapped[Decimal]
    avg_entry_price: Mapped[Decimal]


class PaperFill(Base):
    __tablename__ = "paper_fills"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    broker_order_id: Mapped[str] = mapped_column(String(64), index=True)
    client_order_id: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    qty: Mapped[Decimal]
    price: Mapped[Decimal]
    commission: Mapped[Decimal]
    ts: Mapped[datetime] = mapped_column(index=True)


class ReconciliationRun(Base):
    """One comparison of broker truth with the store; differences as a JSON list (kind, key, store, broker, value)."""

    __tablename__ = "reconciliation_runs"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    differences: Mapped[list] = mapped_column(default=list)


class HealthResult(Base):
    """One health check's outcome in one run of the engine's health job (history for sparklines, /metrics)."""

    __tablename__ = "health_results"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    ts: Mapped[datetime]
    engine_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # healthy | degraded | unhealthy
    detail: Mapped[str] = mapped_column(Text)
    value: Mapped[float | None] = mapped_column(Float)
    __table_args__ = (Index("ix_health_results_ts", "ts"), Index("ix_health_results_name_ts", "name", "ts"))


# ---- execution: protective stops per position, sliced parent orders and their children (issue 17, migration 0009) ----
class ProtectiveStop(Base):
    """The exits attached to one position: stop-loss, trailing stop, take-profit, maximum holding time.

    One active row per symbol; `extreme_price` is the best price seen since it was attached (the
    trailing stop's high-water mark for a long, low-water mark for a short)."""

    __tablename__ = "protective_stops"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    symbol: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # active | blocked | triggered | done | canceled
    direction: Mapped[int] = mapped_column(Integer)  # +1 long, -1 short (the position it protects)
    stop_loss_pct: Mapped[Decimal | None]
    trail_pct: Mapped[Decimal | None]
    trail_atr_mult: Mapped[Decimal | None]
    atr: Mapped[Decimal | None]  # the ATR the ATR trail is measured in, taken when attached
    take_profit_pct: Mapped[Decimal | None]
    max_hold_seconds: Mapped[float | None] = mapped_column(Float)
    entry_price: Mapped[Decimal]
    extreme_price: Mapped[Decimal]
    opened_at: Mapped[datetime]  # market time the holding clock started
    source: Mapped[str] = mapped_column(String(16))  # preset | manual
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    triggered_at: Mapped[datetime | None]
    trigger_kind: Mapped[str | None] = mapped_column(String(16))
    trigger_price: Mapped[Decimal | None]
    exit_client_order_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    native_order_id: Mapped[str | None] = mapped_column(String(64))  # a broker-side stop (Alpaca) when there is one


class ParentOrder(Base):
    """A large order worked as child orders (TWAP, VWAP, participation) under one id; canceled as one."""

    __tablename__ = "parent_orders"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(8))
    qty: Mapped[Decimal]
    mode: Mapped[str] = mapped_column(String(16))  # twap | vwap | pov
    status: Mapped[str] = mapped_column(String(16), index=True)  # active | done | canceled | expired
    origin: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    participation: Mapped[Decimal | None]
    limit_offset_bps: Mapped[Decimal | None]
    schedule: Mapped[list] = mapped_column(default=list)  # [[iso time, cumulative target qty], ...]
    filled_qty: Mapped[Decimal] = mapped_column(default=Decimal(0))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ParentChild(Base):
    """Links a child order (an ordinary gateway order) to its parent."""

    __tablename__ = "parent_order_children"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("parent_orders.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    qty: Mapped[Decimal]
    created_at: Mapped[datetime]


# --- portfolio risk (issue 17, engine/portfolio_risk) ---------------------------------------------

class RiskSnapshotRow(Base):
    """One risk cycle's figures of the book (USD; VaR/CVaR 1 day as positive losses), kept as history.

    `breaches`: the portfolio limits the book was above. The newest full report (exposures, correlation,
    scenarios: what the Risk page draws) is one engine_kv row, portfolio_risk.report, replaced every cycle."""

    __tablename__ = "risk_snapshots"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(index=True)
    equity: Mapped[float | None] = mapped_column(Float)
    gross: Mapped[float] = mapped_column(Float)
    net: Mapped[float] = mapped_column(Float)
    hist_var_95: Mapped[float | None] = mapped_column(Float)
    hist_cvar_95: Mapped[float | None] = mapped_column(Float)
    hist_var_99: Mapped[float | None] = mapped_column(Float)
    hist_cvar_99: Mapped[float | None] = mapped_column(Float)
    param_var_95: Mapped[float | None] = mapped_column(Float)
    param_cvar_95: Mapped[float | None] = mapped_column(Float)
    param_var_99: Mapped[float | None] = mapped_column(Float)
    param_cvar_99: Mapped[float | None] = mapped_column(Float)
    beta: Mapped[float | None] = mapped_column(Float)
    cluster_net: Mapped[float] = mapped_column(Float)
    worst_stress_pnl: Mapped[float | None] = mapped_column(Float)
    breaches: Mapped[list] = mapped_column(default=list)


class StressScenarioRow(Base):
    """A user-defined stress scenario: shocks (fractions) by symbol, group or INDEX; saved by a trader, audited."""

    __tablename__ = "stress_scenarios"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    shocks: Mapped[dict] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]


# --- backtests (issue 12): stored runs with their inputs and outputs --------------------------------------


class BacktestRun(Base):
    """One backtest: its inputs (data, range, cash, parameters, preset), its status and progress, its metrics."""

    __tablename__ = "backtest_runs"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None]
    author: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(16), index=True)  # running | done | failed | cancelled
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text)
    data_source: Mapped[str] = mapped_column(String(16))  # stored | csv | upload
    data_label: Mapped[str] = mapped_column(Text)
    index_symbol: Mapped[str] = mapped_column(String(32))
    start_ts: Mapped[datetime | None]
    end_ts: Mapped[datetime | None]
    cash: Mapped[Decimal]
    param_version_id: Mapped[int | None]
    params_label: Mapped[str] = mapped_column(Text)
    params_workbook: Mapped[bytes | None] = mapped_column(LargeBinary)  # the workbook of the parameters used
    preset_name: Mapped[str] = mapped_column(String(64))
    preset: Mapped[dict] = mapped_column(default=dict)
    bars: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict | None]


class BacktestFile(Base):
    """An output table of a run (equity, orders, fills) as gzip-compressed CSV, so it can be reopened and downloaded."""

    __tablename__ = "backtest_files"
    run_id: Mapped[int] = mapped_column(ForeignKey("backtest_runs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


# --- planner (issue 11): stored plans, user preset versions, the regime -> preset table ---


class PlannerPlan(Base):
    """One plan the planner made (engine job, CLI or page), with what it was made under and whether it was sent."""

    __tablename__ = "planner_plans"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    origin: Mapped[str] = mapped_column(String(24))  # engine | web | cli
    preset: Mapped[str] = mapped_column(String(64))
    sliders: Mapped[dict] = mapped_column(default=dict)
    regime: Mapped[str | None] = mapped_column(String(48))
    preset_reason: Mapped[str] = mapped_column(Text, default="")
    param_version_id: Mapped[int | None]
    sequences_evaluated: Mapped[int] = mapped_column(Integer)
    elapsed_ms: Mapped[float] = mapped_column(Float)
    steps: Mapped[list] = mapped_column(default=list)
    score: Mapped[dict] = mapped_column(default=dict)
    executed: Mapped[bool] = mapped_column(Boolean, default=False)
    outcomes: Mapped[list] = mapped_column(default=list)


class PlannerPresetVersion(Base):
    """A user preset version: a built-in base + slider positions + overrides; never updated, only added."""

    __tablename__ = "planner_preset_versions"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    author: Mapped[str] = mapped_column(String(64))
    base: Mapped[str] = mapped_column(String(64))
    sliders: Mapped[dict] = mapped_column(default=dict)
    overrides: Mapped[dict] = mapped_column(default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
    __table_args__ = (UniqueConstraint("name", "version", name="uq_planner_preset_versions_name_version"),)


class PlannerRegimePreset(Base):
    """Which preset is in force in a regime (a regime without a row uses "default")."""

    __tablename__ = "planner_regime_presets"
    regime: Mapped[str] = mapped_column(String(48), primary_key=True)
    preset: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime]
    author: Mapped[str] = mapped_column(String(64))


# --- Regime ensemble (issue 15): fitted models of the workbook's EnsembleMethods ----------------------
class EnsembleModelRow(Base):
    """One walk-forward fit of the regime ensemble, with the parameter version and the data it came from.

    ``blob`` is a joblib pickle written by the engine's own refit job; it is only ever loaded from this
    table (never from an upload)."""

    __tablename__ = "ensemble_models"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime]
    symbol: Mapped[str] = mapped_column(String(32))
    param_version_id: Mapped[int | None]
    params_hash: Mapped[str] = mapped_column(String(64))
    data_start: Mapped[datetime]
    data_end: Mapped[datetime]
    n_rows: Mapped[int] = mapped_column(Integer)
    fit_seconds: Mapped[float] = mapped_column(Float)
    method: Mapped[str] = mapped_column(String(32))
    metrics: Mapped[dict] = mapped_column(default=dict)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    __table_args__ = (Index("ix_ensemble_models_symbol_id", "symbol", "id"),)


# --- Self-tuning (issue 16): tuning proposals, applied only through engine.params.versions ------------
class TuningProposal(Base):
    """One tuning run's candidate: pending (waiting for an admin), applied, rejected, not_better or stale.

    The candidate's values become a parameter version only through apply_version (engine/tuning/proposals.py)."""

    __tablename__ = "tuning_proposals"
    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime]
    base_version_id: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), index=True)
    seed: Mapped[int] = mapped_column(Integer)
    trials: Mapped[int] = mapped_column(Integer)
    changes: Mapped[list] = mapped_column(default=list)
    values_json: Mapped[str] = mapped_column(Text)
    validation: Mapped[dict] = mapped_column(default=dict)
    reason: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    applied_version_id: Mapped[int | None]
