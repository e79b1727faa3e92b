"""Where a backtest bar's time goes: inclusive timers around the engine's stages, for bench_backtest.

Timers wrap the module attributes the engine calls through (engine.cycle's job functions, the planner
job's steps, the paper broker's methods) for one measuring run only, and are removed afterwards; SQL
statement time is taken from SQLAlchemy's cursor events on every engine. Nested stages overlap their
parents (the gateway's time is inside the planner's), so the lines are not meant to add up.
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from engine import cycle, jobs
from engine.planner import job as planner_job
from engine.regime_stage import RegimeStage
from engine.trading import gateway
from engine.trading.brokers.paper import PaperBroker

# (label, owner, attribute): the stages timed, parents before their parts
STAGES: list[tuple[str, Any, str]] = [
    ("market: bars stored + paper fills", jobs, "market_tick"),
    ("market: regime stage", RegimeStage, "run"),
    ("market: execution (stops, slices)", cycle, "on_market_tick"),
    ("account sync", cycle, "sync_from_broker"),
    ("risk: automatic halts", cycle, "evaluate"),
    ("risk: portfolio VaR/stress/limits", cycle.portfolio_risk, "run"),
    ("planner job (all)", cycle, "run_planner_job"),
    ("planner: portfolio state read", planner_job, "portfolio_state"),
    ("planner: preset for the regime", planner_job, "preset_for_regime"),
    ("planner: plan stored", planner_job, "store_plan"),
    ("planner: send (gateway + broker)", planner_job, "send_plan"),
    ("gateway: checks + order recorded", gateway, "_check_and_record"),
    ("paper broker: all calls", None, ""),
]
BROKER_METHODS = ("submit_order", "process_bars", "books_since", "get_account", "get_positions", "list_orders_since",
                  "fills_since", "list_open_orders", "get_order_by_client_id")


def _timed(totals: dict[str, float], label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[label] += time.perf_counter() - t0
    return wrapper


@contextmanager
def stage_timers() -> Iterator[dict[str, float]]:
    """Seconds per stage (and 'SQL statements' / 'SQL count') while the block runs; restored afterwards."""
    totals: dict[str, float] = defaultdict(float)
    saved: list[tuple[Any, str, Any]] = []
    for label, owner, attr in STAGES:
        if owner is not None:
            saved.append((owner, attr, getattr(owner, attr)))
            setattr(owner, attr, _timed(totals, label, getattr(owner, attr)))
    for name in BROKER_METHODS:
        saved.append((PaperBroker, name, getattr(PaperBroker, name)))
        setattr(PaperBroker, name, _timed(totals, "paper broker: all calls", getattr(PaperBroker, name)))
    started: list[float] = []

    def before(*_a: Any) -> None:
        started.append(time.perf_counter())

    def after(*_a: Any) -> None:
        totals["SQL statements (driver time)"] += time.perf_counter() - started.pop()
        totals["SQL count"] += 1

    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "after_cursor_execute", after)
    try:
        yield totals
    finally:
        event.remove(Engine, "before_cursor_execute", before)
        event.remove(Engine, "after_cursor_execute", after)
        for owner, attr, original in reversed(saved):
            setattr(owner, attr, original)


def report(totals: dict[str, float], bars: int, seconds: float) -> list[str]:
    """One line per stage: ms per bar and the share of the bar's time."""
    per = max(bars, 1)
    lines = [f"  where a bar's {seconds / per * 1e3:.1f} ms go ({bars} bars timed; nested lines overlap their parent):"]
    for label, _owner, _attr in STAGES:
        t = totals.get(label, 0.0)
        lines.append(f"    {label:38s} {t / per * 1e3:7.2f} ms/bar  {t / seconds:6.1%}")
    sql = totals.get("SQL statements (driver time)", 0.0)
    lines.append(f"    {'SQL statements (driver time)':38s} {sql / per * 1e3:7.2f} ms/bar  {sql / seconds:6.1%}  "
                 f"({totals.get('SQL count', 0.0) / per:.0f} statements/bar)")
    return lines
