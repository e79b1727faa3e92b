"""`python -m engine halt|pause|resume|status` in a real subprocess against a real SQLite store
while no engine runs: the CLI itself performs the broker actions, audited as the OS user."""
from __future__ import annotations

import getpass
import io
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from engine.settings import PROJECT_ROOT
from engine.store.models import AuditEvent
from engine.trading import cli
from engine.trading import state as ts
from engine.trading.state import TradingState
from tests.trading_control_fixtures import beat, make_ctx, open_position, place_resting_orders


@pytest.fixture()
def ctx(tmp_path, any_db_url):
    c = make_ctx(tmp_path, url=any_db_url)
    yield c
    c.store.dispose()


def run_cli(ctx, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REGIMEDESK_DATABASE_URL": ctx.store.url, "REGIMEDESK_BROKER": "paper"}
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def state_of(ctx) -> TradingState:
    with ctx.store.read() as s:
        return ts.current(s).state


def test_halt_from_the_command_line_cancels_everything(ctx):
    place_resting_orders(ctx, 25)
    done = run_cli(ctx, "halt", "--reason", "web is down")
    assert done.returncode == 0, done.stderr
    assert "halt by cli:" in done.stdout and "cancelled 25 open order(s)" in done.stdout
    assert state_of(ctx) is TradingState.HALTED
    assert ctx.broker.list_open_orders() == []
    with ctx.store.read() as s:
        actors = set(s.scalars(select(AuditEvent.actor).where(AuditEvent.action.startswith("control."))))
    assert actors == {f"cli:{getpass.getuser()}"}


def test_halt_with_flatten_pause_resume_and_status(ctx):
    open_position(ctx, "AAA", 7)
    done = run_cli(ctx, "halt", "--flatten", "--reason", "flatten all")
    assert done.returncode == 0, done.stderr
    assert "closing 1 position(s)" in done.stdout
    status = run_cli(ctx, "status")
    assert status.returncode == 0, status.stderr
    assert "state:    HALTED" in status.stdout and "reason:   flatten all" in status.stdout
    assert "not running" in status.stdout and "open orders at paper: 1" in status.stdout
    assert "AAA      sell 7" in status.stdout

    refused = run_cli(ctx, "pause", "--reason", "slowly back")  # no engine runs: nothing would trade (issue 9)
    assert refused.returncode != 0 and "pause refused: the engine is down" in refused.stdout, refused.stdout
    assert state_of(ctx) is TradingState.HALTED
    beat(ctx.store, datetime.now(UTC))  # an engine is live now (the CLI subprocess runs on the wall clock)
    assert run_cli(ctx, "pause", "--reason", "slowly back").returncode == 0
    assert state_of(ctx) is TradingState.REDUCING
    beat(ctx.store, datetime.now(UTC))
    assert run_cli(ctx, "resume", "--reason", "all clear").returncode == 0
    assert state_of(ctx) is TradingState.ACTIVE


def test_refusals_and_usage_errors_exit_non_zero(ctx):
    out = io.StringIO()
    assert cli.main(["resume"], ctx=ctx, out=out) == cli.EXIT_USAGE  # --reason is required
    assert cli.main(["halt", "--reason", "x"], ctx=ctx, out=out) == 0
    with ctx.store.write() as s:
        ts.change(s, ctx.clock.now(), TradingState.SHUTTING_DOWN, "alice", "maintenance")
    out = io.StringIO()
    assert cli.main(["pause", "--reason", "x"], ctx=ctx, out=out) == cli.EXIT_FAILED
    assert "refused" in out.getvalue() and "cannot go from SHUTTING_DOWN to REDUCING" in out.getvalue()


def test_shutdown_from_the_command_line_stops_trading(ctx):
    place_resting_orders(ctx, 5)
    open_position(ctx, "AAA", 3)
    done = run_cli(ctx, "shutdown", "--flatten", "--reason", "end of week")
    assert done.returncode == 0, done.stderr
    assert "shutdown by cli:" in done.stdout and "(state now STOPPED)" in done.stdout
    assert "closing 1 position(s)" in done.stdout
    assert state_of(ctx) is TradingState.STOPPED
    assert [o.symbol for o in ctx.broker.list_open_orders()] == ["AAA"]  # only the closing order is left
    out = io.StringIO()
    assert cli.main(["pause", "--reason", "too late"], ctx=ctx, out=out) == cli.EXIT_FAILED
    assert "cannot go from STOPPED to REDUCING" in out.getvalue()
