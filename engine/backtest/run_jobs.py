"""Which process runs a stored backtest's job, so a run whose job died does not stay "running" for ever.

The web job marks its run with its machine and process ("job host:pid", in the run's message while it runs).
A process gone from this machine (the web server restarted, the worker was killed) cannot finish the run: the
page ends such runs as failed, with the reason, when it lists runs. A run queued but not started has no mark, and
a run marked by another machine is never judged from this one, so a live job is never ended by mistake (a
reused process id only keeps a dead run "running", as before).
"""
from __future__ import annotations

import os
import socket

from sqlalchemy import select, update

from engine.clock import Clock, SystemClock
from engine.store.db import Store
from engine.store.models import BacktestRun

MARK = "job "


def job_mark(host: str | None = None, pid: int | None = None) -> str:
    return f"{MARK}{host or socket.gethostname()}:{pid or os.getpid()}"


def is_job_mark(message: str | None) -> bool:
    """True for a running run's job mark (not a reason to show the user)."""
    return bool(message) and str(message).startswith(MARK)


def claim(store: Store, run_id: int) -> None:
    """Mark a running run with the process that runs its job now."""
    with store.write() as s:
        s.execute(update(BacktestRun).where(BacktestRun.id == run_id, BacktestRun.status == "running")
                  .values(message=job_mark()))


def _alive(pid_text: str) -> bool:
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except (ValueError, OverflowError, OSError):  # not a process id, or one we may not signal: not ours to end
        return True
    return True


def end_dead_jobs(store: Store, clock: Clock | None = None) -> list[int]:
    """End as failed the running runs whose job process on this machine is gone; returns their ids."""
    host = socket.gethostname()
    prefix = f"{MARK}{host}:"
    with store.read() as s:
        marked = s.execute(select(BacktestRun.id, BacktestRun.message).where(
            BacktestRun.status == "running", BacktestRun.message.startswith(prefix, autoescape=True))).all()
    ended = []
    for run_id, mark in marked:
        pid = str(mark)[len(prefix):]
        if _alive(pid):
            continue
        now = (clock or SystemClock()).now()
        with store.write() as s:  # only while it still carries the same mark: a live job's writes win
            s.execute(update(BacktestRun).where(BacktestRun.id == run_id, BacktestRun.status == "running",
                                                BacktestRun.message == mark).values(
                status="failed", finished_at=now,
                message=f"its job stopped without finishing (process {pid} on {host} is gone: the web server "
                        "restarted or the job was killed); start it again"))
        ended.append(int(run_id))
    return ended
