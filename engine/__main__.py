"""`python -m engine [COMMAND]`: run the engine alone, or one of its command-line tools.

  python -m engine                 run the engine (blocking scheduler; SIGINT/SIGTERM stop it cleanly)
  python -m engine migrate         bring the database schema to the newest migration
  python -m engine params ...      validate / import / export / diff parameter workbooks
  python -m engine regime ...      regime research tools (replay a CSV history)
  python -m engine planner plan ...   plan for a portfolio offline (CSV history, positions, cash, preset)
  python -m engine backtest ...    backtest CSV files through the engine's own jobs (see --help)
  python -m engine halt|pause|resume|shutdown|status ...   trade controls for when the web is unreachable
  python -m engine users add|list|disable|enable|passwd|role ...   dashboard users (passwords from stdin)
  python -m engine notify test     one test message to every REGIMEDESK_NOTIFY_URLS target, one line per target
"""
from __future__ import annotations

import faulthandler
import logging
import signal
import sys

from engine.logging_setup import configure_logging
from engine.malloc_arenas import limit_malloc_arenas
from engine.settings import SettingsError, load_settings
from engine.store.check import require_current_schema
from engine.store.db import StoreError
from engine.thread_dump import install_thread_dump

log = logging.getLogger("engine")

TRADING_COMMANDS = {"halt", "pause", "resume", "shutdown", "status"}


def run_engine() -> int:
    # The engine (its jobs, the market, apprise, sklearn, scipy) loads only for `run`: a command-line tool (`halt`
    # when the web is unreachable) starts without it, in a fraction of the time (tests/unit/test_cli_import_footprint.py).
    from threadpoolctl import threadpool_limits

    from engine import notify  # local import: apprise, loaded only to run the engine (see above)
    from engine.runtime import build_context  # local import: the market and broker, only to run the engine
    from engine.scheduler import EngineService  # local import: the engine's jobs, only to run the engine

    limit_malloc_arenas()  # before the scheduler's threads exist (engine/malloc_arenas.py)
    settings = load_settings()
    configure_logging(settings.log_level)
    if not _stop_with_parent():
        return 0
    threadpool_limits(limits=settings.engine_blas_threads, user_api="blas")  # small matrices: threads only spin
    faulthandler.enable()  # a real crash still leaves every thread's stack on stderr
    install_thread_dump(signal.SIGUSR1)  # `kill -USR1 PID`: every thread's stack on stderr (engine/thread_dump.py)
    ctx = build_context(settings, with_source=True, migrate=False)

    require_current_schema(ctx.store)
    service = EngineService(ctx, blocking=True)

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s: shutting down", signal.Signals(signum).name)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stop accepting signals while shutting down
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        service.request_stop_from_signal()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("engine %s starting (store %s, market %s, broker %s)", ctx.engine_id, ctx.store.safe_url(),
             settings.market_source, settings.broker)
    service.start()  # blocks until a signal asks the scheduler to stop
    service.shutdown()

    notify.shutdown(flush_s=3.0)  # the STOPPED message leaves before the process does
    ctx.store.dispose()
    logging.shutdown()
    return 0


def _stop_with_parent() -> bool:
    """The engine of `python app.py` (webapp/engine_process.py): ask the kernel for a SIGTERM when that web
    process dies, even by SIGKILL (Linux), so its graceful shutdown runs; False when it is already gone."""
    import os

    parent = os.environ.get("REGIMEDESK_ENGINE_PARENT_PID", "")
    if not parent.isdigit():
        return True
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the web's shutdown still stops the engine
        log.warning("cannot ask to be stopped with the web process %s on this system", parent)
    if os.getppid() != int(parent):
        log.error("the web process %s that started this engine is gone: not starting", parent)
        return False
    return True


def migrate() -> int:
    # local import: alembic's migration scripts, loaded only for `migrate`
    from engine.store.migrate import open_store

    store = open_store(load_settings().database_url, migrate=True)
    print(f"database {store.safe_url()} is at the newest schema")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "run"
    try:
        if command in ("run",):
            return run_engine()
        if command == "migrate":
            return migrate()
        if command == "params":
            # local import: each subcommand loads only its own modules
            from engine.params.cli import main as params_main

            return params_main(args[1:])
        if command == "regime":
            # local import: each subcommand loads only its own modules
            from engine.regime.cli import main as regime_main

            return regime_main(args[1:])
        if command == "backtest":
            # local import: each subcommand loads only its own modules
            from engine.backtest.cli import main as backtest_main

            return backtest_main(args[1:])
        if command == "planner":
            # local import: each subcommand loads only its own modules
            from engine.planner.cli import main as planner_main

            return planner_main(args[1:])
        if command == "users":
            # local import: each subcommand loads only its own modules
            from engine.auth.cli import main as users_main

            return users_main(args[1:])
        if command == "notify":
            # local import: each subcommand loads only its own modules
            from engine.notify_cli import main as notify_main

            return notify_main(args[1:])
        if command in TRADING_COMMANDS:
            # local import: each subcommand loads only its own modules
            from engine.trading.cli import main as trading_main

            return trading_main(args)
        if command in ("-h", "--help", "help"):
            print(__doc__)
            return 0
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"database error: {exc}", file=sys.stderr)
        return 2
    print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
