"""Trade controls from a shell, for when the web is unreachable:

  python -m engine halt [--flatten] --reason TEXT     kill switch: HALTED, cancel all, optionally flatten
  python -m engine pause --reason TEXT                REDUCING: no new exposure
  python -m engine resume --reason TEXT               ACTIVE again
  python -m engine shutdown [--flatten] --reason TEXT graceful shutdown: cancel all, optionally close, STOPPED;
                                                      a running engine exits after it
  python -m engine status                             state, reason, age, engine, open orders, positions

Each runs the same engine.trading.control.perform as the buttons, audited as "cli:<os user>".
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TextIO

from engine.cli_actor import cli_actor
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.check import require_current_schema
from engine.trading import commands, control
from engine.trading import state as trading_state
from engine.trading.brokers.base import BrokerError
from engine.trading.control_steps import flatten_on_shutdown

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description="RegimeDesk trade controls")
    sub = parser.add_subparsers(dest="command", required=True)
    halt = sub.add_parser("halt", help="kill switch: HALTED, cancel every open order, optionally flatten")
    halt.add_argument("--flatten", action="store_true", help="also close every position with market orders")
    for name, text in (("pause", "pause entries (REDUCING): exits still allowed"),
                       ("resume", "resume trading (ACTIVE)")):
        sub.add_parser(name, help=text)
    shutdown = sub.add_parser("shutdown", help="graceful shutdown: SHUTTING_DOWN, cancel every open order, "
                              "optionally close positions, STOPPED; a running engine then exits")
    shutdown.add_argument("--flatten", action="store_true",
                          help="close every position (default: the TradingRisk flatten_on_shutdown parameter)")
    for name in ("halt", "pause", "resume", "shutdown"):
        sp = sub.choices[name]
        sp.add_argument("--reason", required=True, help="why; stored in the audit trail")
        sp.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the engine to finish (default 30)")
    sub.add_parser("status", help="show the trading state, the engine, open orders and positions")
    return parser


def _build_context() -> control.ControlContext:
    settings = load_settings()
    ctx = build_context(settings, with_source=False, migrate=False)
    require_current_schema(ctx.store)
    return ctx


def print_result(result: control.ControlResult, out: TextIO) -> None:
    print(f"{result.action} by {result.actor}: {result.status}"
          + (f" (state now {result.state})" if result.state else ""), file=out)
    for step in result.steps:
        timing = f" [{step.duration_ms:.0f} ms]" if step.duration_ms is not None else ""
        print(f"  {step.status:8} {step.name}: {step.detail}{timing}", file=out)
    if result.message and result.message != "all steps done":
        print(f"  {result.message}", file=out)
    if result.status == commands.PENDING:
        print("  the engine has the command and has not finished yet; run `python -m engine status` to follow it",
              file=out)


def status(ctx: control.ControlContext, out: TextIO) -> int:
    now = ctx.clock.now()
    with ctx.store.read() as s:
        try:
            snap: trading_state.StateSnapshot | None = trading_state.current(s)
        except LookupError as exc:  # a store the engine has not run on yet: say so, then the rest as usual
            snap, no_state = None, str(exc)
        alive = commands.engine_alive(s, now)
        last = commands.latest(s, control.KINDS)
        last_info = None if last is None else (last.id, last.kind, last.actor, last.status)
    if snap is None:
        print(f"state:    none: {no_state}", file=out)
    else:
        age_s = (now - snap.changed_at).total_seconds()
        print(f"state:    {snap.state}  (since {snap.changed_at:%Y-%m-%d %H:%M:%S} UTC, {age_s:.0f} s ago)", file=out)
        print(f"reason:   {snap.reason}  (by {snap.changed_by}; previous {snap.previous_state or '-'})", file=out)
    print(f"engine:   {'alive' if alive else 'not running or not responding (heartbeat stale)'}", file=out)
    if last_info is not None:
        print(f"last control command: #{last_info[0]} {last_info[1]} by {last_info[2]}: {last_info[3]}", file=out)
    try:
        orders = ctx.broker.list_open_orders()
        positions = [p for p in ctx.broker.get_positions() if p.qty != 0]
    except BrokerError as exc:
        print(f"broker {ctx.broker.name}: unreachable ({exc})", file=out)
        return EXIT_FAILED
    print(f"open orders at {ctx.broker.name}: {len(orders)}", file=out)
    for o in orders[:20]:
        limit = f" @ {o.limit_price}" if o.limit_price is not None else ""
        print(f"  {o.symbol:8} {o.side.value:4} {o.qty}{limit} {o.status.value} ({o.client_order_id})", file=out)
    if len(orders) > 20:
        print(f"  … and {len(orders) - 20} more", file=out)
    print(f"positions: {len(positions)}", file=out)
    for p in positions:
        mark = f" mark {p.market_price}" if p.market_price is not None else ""
        print(f"  {p.symbol:8} {p.qty} @ {p.avg_entry_price}{mark}", file=out)
    return EXIT_OK


def main(argv: list[str] | None = None, ctx: control.ControlContext | None = None,
         build: Callable[[], control.ControlContext] | None = None, out: TextIO | None = None) -> int:
    """Entry point for `python -m engine halt|pause|resume|shutdown|status ...` (argv includes the command name)."""
    out = out or sys.stdout
    try:
        args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exc:
        return int(exc.code or 0) if exc.code in (0, None) else EXIT_USAGE
    if ctx is None:
        ctx = (build or _build_context)()
    if args.command == "status":
        return status(ctx, out)
    flatten = bool(getattr(args, "flatten", False))
    if args.command == "shutdown" and not flatten:
        flatten = flatten_on_shutdown(ctx)
    result = control.perform(ctx, cli_actor(), args.command, reason=args.reason, flatten=flatten, wait_s=args.wait)
    print_result(result, out)
    return EXIT_OK if result.status in (commands.DONE, commands.PENDING, commands.RUNNING) else EXIT_FAILED
