"""One clock for market events (issue 9): with the simulated market running accelerated, bars, orders,
fills, account and regime snapshots carry the simulated market's time, operator actions (audit) the wall
clock's; a fill lies in the bar it filled on. A real `python -m engine` runs the market (5 simulated minutes
per 0.5 s tick); the test process plays the web: it sends a manual order through the gateway and, after a
SIGKILL of the engine, runs the kill switch, which must still find the partial fill. SQLite and PostgreSQL."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from engine.clock import SystemClock
from engine.market.market_clock import MARKET_CLOCK_KEY, BarMarketClock, WallMarketClock
from engine.runtime import build_context
from engine.settings import PROJECT_ROOT, load_settings
from engine.store.migrate import open_store
from engine.store.models import (
    AccountSnapshot,
    AuditEvent,
    BarRow,
    CommandRow,
    FillRow,
    KeyValue,
    OrderRow,
    PaperFill,
    RegimeSnapshot,
)
from engine.trading import control
from engine.trading.brokers.base import OrderSide, OrderType
from engine.trading.gateway import OrderIntent, submit
from engine.trading.risk_limits import RiskLimits

D = Decimal
MINUTES_PER_TICK = 5
TICK_S = 0.5
PARTICIPATION = D("0.001")
SYMBOL = "ALFA"
STARTING_CASH = "1000000000"
BAR = timedelta(minutes=1)
LOOSE = RiskLimits(max_order_qty=D(10**9), max_order_notional=D(10**12), max_position_notional=D(10**12),
                   max_gross_exposure_pct=D(100_000), price_collar_pct=D(50), daily_loss_limit_pct=D(50),
                   max_drawdown_pct=D(50), stale_data_seconds=3600, max_rejections=1000)


def _env(url: str) -> dict[str, str]:
    return {**os.environ, "REGIMEDESK_DATABASE_URL": url, "REGIMEDESK_TICK_SECONDS": str(TICK_S),
            "REGIMEDESK_SIM_MINUTES_PER_TICK": str(MINUTES_PER_TICK), "REGIMEDESK_WARMUP_POLLS": "60",
            "REGIMEDESK_AUTOTRADE": "false", "REGIMEDESK_PAPER_SLIPPAGE_BPS": "0",
            "REGIMEDESK_PAPER_PARTICIPATION": str(PARTICIPATION), "REGIMEDESK_PAPER_STARTING_CASH": STARTING_CASH,
            "REGIMEDESK_DEADMAN_SECONDS": "0", "REGIMEDESK_NOTIFY_URLS": ""}


def _wait(what: str, check, timeout_s: float, proc: subprocess.Popen | None = None):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    for _ in range(int(timeout_s / 0.1) + 1):
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the engine exited ({proc.returncode}) before {what}; see its log")
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _market_clock(store) -> datetime | None:  # type: ignore[no-untyped-def]
    with store.read() as s:
        row = s.get(KeyValue, MARKET_CLOCK_KEY)
        return datetime.fromisoformat(row.value["ts"]) if row is not None else None


def _settings(url: str):  # type: ignore[no-untyped-def]
    return load_settings(database_url=url, market_source="simulated", tick_seconds=TICK_S,
                         sim_minutes_per_tick=MINUTES_PER_TICK, paper_slippage_bps=0,
                         paper_participation=PARTICIPATION, paper_starting_cash=D(STARTING_CASH), autotrade=False,
                         deadman_seconds=0)  # the same paper account as the engine's (whoever creates it first)


def _start_engine(url: str, log: Path) -> subprocess.Popen:
    """The engine's output goes to a file: a pipe nobody reads would stop it once full."""
    return subprocess.Popen([sys.executable, "-m", "engine"], cwd=PROJECT_ROOT, env=_env(url),
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _order_partly_filled(store, proc: subprocess.Popen, web) -> tuple[str, Decimal]:  # type: ignore[no-untyped-def]
    """A big manual market order (as the web's ticket sends it) that fills a little on every bar; returns once
    fills over at least two ticks are synced and an account snapshot follows them."""
    first_clock = _wait("the engine's first ticks", lambda: _market_clock(store), 60, proc)
    _wait("a few more ticks", lambda: (_market_clock(store) or first_clock) >= first_clock + 3 * BAR * MINUTES_PER_TICK,
          30, proc)
    with store.read() as s:
        volume = s.scalar(select(BarRow.volume).where(BarRow.symbol == SYMBOL).order_by(BarRow.ts.desc()).limit(1))
    qty = D(int(volume * float(PARTICIPATION) * 400))  # about 400 bars (80 ticks) to fill: it stays open
    result = submit(web, OrderIntent(SYMBOL, OrderSide.BUY, qty, OrderType.MARKET, reason="market clock test",
                                     idempotency_key="market-clock-1"), "web:tester", "manual", LOOSE)
    assert result.accepted, result.reason
    coid = result.client_order_id

    def fills_synced() -> int:
        with store.read() as s:
            n = s.scalar(select(func.count()).select_from(FillRow).where(FillRow.client_order_id == coid)) or 0
        return n if n >= 2 * MINUTES_PER_TICK else 0

    try:
        _wait("fills over at least two ticks, synced by the account job", fills_synced, 90, proc)
        _wait("an account snapshot after a fill", lambda: _snapshot_after_fill(store, coid), 30, proc)
    except AssertionError as exc:
        with store.read() as s:
            order = s.scalars(select(OrderRow).where(OrderRow.client_order_id == coid)).one()
            paper = s.scalar(select(func.count()).select_from(PaperFill).where(PaperFill.client_order_id == coid))
        raise AssertionError(f"{exc}; order {order.status} {order.filled_qty}/{qty} created {order.created_at}, "
                             f"{paper} paper fill(s), market clock {_market_clock(store)}") from exc
    return coid, qty


def test_market_events_share_the_simulated_clock_and_audit_the_wall_clock(tmp_path: Path, any_db_url: str) -> None:
    store = open_store(any_db_url, migrate=True)
    settings = _settings(any_db_url)
    wall_start = datetime.now(UTC)
    proc = _start_engine(any_db_url, tmp_path / "engine.log")
    web = None
    try:
        web = build_context(settings, with_source=False, migrate=False)  # what a web worker builds
        assert isinstance(web.market_clock, BarMarketClock)
        coid, qty = _order_partly_filled(store, proc, web)
        proc.send_signal(signal.SIGKILL)  # the engine dies with the order partly filled
        proc.wait(timeout=10)
        wall_killed = datetime.now(UTC)

        with store.read() as s:
            bars = {b.ts: b for b in s.scalars(select(BarRow).where(BarRow.symbol == SYMBOL))}
            order = s.scalars(select(OrderRow).where(OrderRow.client_order_id == coid)).one()
            fills = list(s.scalars(select(FillRow).where(FillRow.client_order_id == coid).order_by(FillRow.ts)))
            snapshots = list(s.scalars(select(AccountSnapshot)))
            regimes = list(s.scalars(select(RegimeSnapshot)))
            submit_audit = [a for a in s.scalars(select(AuditEvent).where(AuditEvent.action == "order.submit"))
                            if (a.details or {}).get("client_order_id") == coid]
        first_bar, last_bar = min(bars), max(bars)
        market_end = last_bar + BAR
        assert not (first_bar - timedelta(days=1) <= wall_start <= market_end + timedelta(days=1)), \
            "the simulated market's dates must differ from today's for this test to tell the clocks apart"
        # the market clock as any process reads it now: the end of the newest stored bar (the engine may have
        # been killed after storing a tick's bars and before moving engine_kv's mark past them)
        market_now = BarMarketClock(SystemClock(), store, pace=60.0 * MINUTES_PER_TICK / TICK_S).now()
        assert market_now == market_end
        assert _market_clock(store) in (market_end, market_end - MINUTES_PER_TICK * BAR)

        # the order: stamped on the market clock, at a bar boundary, before its first fill
        assert first_bar <= order.created_at <= market_end
        assert (order.created_at - first_bar) % BAR == timedelta(0)
        assert fills and order.created_at <= fills[0].ts <= order.created_at + 2 * MINUTES_PER_TICK * BAR
        # every fill lies inside the bar it filled on: that bar's open is its price (no slippage), one fill a bar
        for fill in fills:
            bar_ts = fill.ts.replace(second=0, microsecond=0)
            bar = bars.get(bar_ts)
            assert bar is not None, f"no {SYMBOL} bar for the fill at {fill.ts}"
            assert bar.ts <= fill.ts < bar.ts + BAR
            assert abs(float(fill.price) - bar.open) <= 1e-4 * bar.open, (fill.ts, fill.price, bar.open)
            assert fill.qty <= int(D(str(bar.volume)) * PARTICIPATION)
        assert len({f.ts for f in fills}) == len(fills)
        # account and regime snapshots: the same clock (never the wall clock)
        assert snapshots and all(first_bar <= a.ts <= market_end for a in snapshots)
        assert max(a.ts for a in snapshots) >= fills[0].ts
        assert regimes and all(first_bar <= r.ts <= market_end for r in regimes)
        assert first_bar <= order.updated_at <= market_end
        # the operator's action: the wall clock
        assert len(submit_audit) == 1
        assert wall_start - timedelta(seconds=1) <= submit_audit[0].ts <= wall_killed

        # the kill switch from the web with the engine down: it compares the command's wall-clock start with
        # the broker's market-time orders, and must find the partly filled order
        with store.read() as s:
            broker_filled = sum((f.qty for f in s.scalars(select(PaperFill).where(PaperFill.client_order_id == coid))),
                                D(0))
        assert D(0) < broker_filled < qty
        wall_halt = datetime.now(UTC)
        halt = control.perform(web, "web:tester", "halt", reason="engine killed", handoff_s=0.2)
        assert halt.status == "done", halt.message
        shown = format(broker_filled.normalize(), "f")
        assert f"1 order(s) partially filled ({SYMBOL} buy {shown}/{format(qty.normalize(), 'f')})" in halt.message
        with store.read() as s:
            order = s.scalars(select(OrderRow).where(OrderRow.client_order_id == coid)).one()
            halt_audit = list(s.scalars(select(AuditEvent).where(AuditEvent.action.like("control.halt%"))))
            synced = sum((f.qty for f in s.scalars(select(FillRow).where(FillRow.client_order_id == coid))), D(0))
        assert (order.status, order.filled_qty, synced) == ("canceled", broker_filled, broker_filled)
        assert order.updated_at == market_now  # the market stood still while no engine ran it
        assert halt_audit and all(wall_halt - timedelta(seconds=1) <= a.ts <= datetime.now(UTC) for a in halt_audit)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        if web is not None:
            web.store.dispose()
        store.dispose()


def test_graceful_shutdown_on_the_accelerated_market_leaves_the_store_equal_to_the_broker(tmp_path: Path,
                                                                                        any_db_url: str) -> None:
    """SIGTERM of `python -m engine` with a partly filled order open: the shutdown's final broker sync reads the
    broker's orders since the command started (wall clock, mapped to market time) and finds the partial fill."""
    store = open_store(any_db_url, migrate=True)
    proc = _start_engine(any_db_url, tmp_path / "engine.log")
    web = build_context(_settings(any_db_url), with_source=False, migrate=False)
    try:
        coid, qty = _order_partly_filled(store, proc, web)
        wall_term = datetime.now(UTC)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, (tmp_path / "engine.log").read_text(errors="replace")[-3000:]
        with store.read() as s:
            order = s.scalars(select(OrderRow).where(OrderRow.client_order_id == coid)).one()
            broker_filled = sum((f.qty for f in s.scalars(select(PaperFill).where(PaperFill.client_order_id == coid))),
                                D(0))
            synced = sum((f.qty for f in s.scalars(select(FillRow).where(FillRow.client_order_id == coid))), D(0))
            shutdowns = list(s.scalars(select(CommandRow).where(CommandRow.kind == "shutdown")))
            bars_end = s.scalar(select(func.max(BarRow.ts)).where(BarRow.symbol == SYMBOL)) + BAR
        assert D(0) < broker_filled < qty
        assert (order.status, order.filled_qty, synced) == ("canceled", broker_filled, broker_filled), (
            [(c.status, c.result) for c in shutdowns], (tmp_path / "engine.log").read_text(errors="replace")[-4000:])
        assert order.updated_at <= bars_end  # the cancel: market time
        assert len(shutdowns) == 1 and shutdowns[0].status == "done", shutdowns
        assert wall_term - timedelta(seconds=1) <= shutdowns[0].created_at <= datetime.now(UTC)  # a command: wall
        steps = {st["name"]: st["detail"] for st in shutdowns[0].result["steps"]}
        shown = f"{SYMBOL} buy {format(broker_filled.normalize(), 'f')}/{format(qty.normalize(), 'f')}"
        assert f"1 order(s) partially filled ({shown})" in steps["sync_broker"], steps
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        web.store.dispose()
        store.dispose()


def _snapshot_after_fill(store, coid: str) -> bool:  # type: ignore[no-untyped-def]
    with store.read() as s:
        first = s.scalar(select(func.min(FillRow.ts)).where(FillRow.client_order_id == coid))
        latest = s.scalar(select(func.max(AccountSnapshot.ts)))
    return first is not None and latest is not None and latest >= first


def test_wall_and_market_times_map_both_ways(sqlite_url: str) -> None:
    """at_wall / to_wall: the clock steps at each tick; before the ticks it knows, the nominal pace."""
    from engine.clock import ManualClock

    wall = ManualClock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    store = open_store(sqlite_url, migrate=True)
    clock = BarMarketClock(wall, store, pace=600.0, trust_s=3600)  # 10 simulated minutes per wall second
    m0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
    marks = []
    for i in range(3):
        clock.advance_to(m0 + timedelta(minutes=10 * i))
        marks.append((wall.now(), m0 + timedelta(minutes=10 * i)))
        wall.advance(1.0)
    assert clock.now() == m0 + timedelta(minutes=20)
    assert clock.at_wall(marks[1][0] + timedelta(seconds=0.5)) == marks[1][1]  # between ticks: the earlier one
    assert clock.at_wall(marks[0][0] - timedelta(seconds=2)) == m0 - timedelta(minutes=20)  # before: pace
    assert clock.to_wall(m0 + timedelta(minutes=10)) == marks[1][0]
    assert clock.to_wall(m0 + timedelta(minutes=5)) == marks[1][0]  # first shown at the tick that passed it
    assert clock.span(timedelta(seconds=30)) == timedelta(minutes=300)
    # another process reads the same clock from the store
    other = BarMarketClock(wall, store, pace=600.0)
    assert other.now() == m0 + timedelta(minutes=20)
    assert WallMarketClock(wall).now() == wall.now()
    store.dispose()
