"""Which process runs a stored backtest's job, and whether it still does, so a run whose job died does not stay
"running" for ever.

The web job marks its run with its machine and process and a heartbeat ("job host:pid beat <time>", in the run's
message while it runs) and stamps the heartbeat again every BEAT_S from a thread of its own (`heartbeat`). The
time is the database server's (engine/store/db_clock.py), so machines whose clocks disagree judge the same beat.
A run is ended as failed, with the reason, when the page lists runs (`end_dead_jobs`):

- its process is gone from this machine (the web server restarted, the worker was killed): at once;
- its heartbeat is older than STALE_S (the worker on another machine was killed or the machine lost, or a process
  id reused here keeps a dead run looking alive): "worker stopped: no heartbeat since HH:MM:SS".

A run queued but not started has no mark and is never judged; a live job beats every BEAT_S, far within STALE_S,
and every end is conditional on the mark read (a beat in between keeps the run running), so a live job is never
ended by mistake. A mark without a beat (written before heartbeats were) is judged by its process only.
"""
from __future__ import annotations

import logging
import os
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import select, update

from engine.clock import Clock, SystemClock
from engine.store.db import Store
from engine.store.db_clock import server_now
from engine.store.models import BacktestRun

log = logging.getLogger(__name__)

MARK = "job "
BEAT = " beat "
BEAT_S = 2.0  # how often a running job stamps its heartbeat
STALE_S = 30.0  # a running run whose heartbeat is older than this has lost its worker (15 missed beats)
_MARK_RE = re.compile(r"^job (?P<host>\S*):(?P<pid>[^:\s]+)(?: beat (?P<beat>\S+))?$")


def job_mark(host: str | None = None, pid: int | None = None, beat: datetime | None = None) -> str:
    """The running run's mark: its job's machine and process, and its newest heartbeat (database time)."""
    base = f"{MARK}{host or socket.gethostname()}:{pid or os.getpid()}"
    return base if beat is None else f"{base}{BEAT}{beat.isoformat()}"


def is_job_mark(message: str | None) -> bool:
    """True for a running run's job mark (not a reason to show the user)."""
    return bool(message) and str(message).startswith(MARK)


def read_mark(message: str | None) -> tuple[str, str, datetime | None] | None:
    """(host, pid, heartbeat or None) of a job mark; None when `message` is none."""
    match = _MARK_RE.match(str(message or ""))
    if match is None:
        return None
    beat = None
    if match["beat"]:
        try:
            beat = datetime.fromisoformat(match["beat"])
        except ValueError:
            beat = None
    return match["host"], match["pid"], beat


def claim(store: Store, run_id: int) -> None:
    """Mark a running run with the process that runs its job now, and its first heartbeat."""
    with store.write() as s:
        s.execute(update(BacktestRun).where(BacktestRun.id == run_id, BacktestRun.status == "running")
                  .values(message=job_mark(beat=server_now(s))))


def beat(store: Store, run_id: int) -> bool:
    """Stamp this process's heartbeat on its running run; False when the run is not (any more) this process's
    running run (cancelled, ended, or judged dead meanwhile): nothing is written then."""
    mine = job_mark()
    with store.write() as s:
        done = s.execute(update(BacktestRun).where(
            BacktestRun.id == run_id, BacktestRun.status == "running",
            BacktestRun.message.startswith(f"{mine}{BEAT}", autoescape=True)).values(message=job_mark(beat=server_now(s))))
        return bool(getattr(done, "rowcount", 0))


@contextmanager
def heartbeat(store: Store, run_id: int, every_s: float = BEAT_S) -> Iterator[None]:
    """`with heartbeat(store, run_id):` claims the run and beats every `every_s` until the block ends. A failed
    beat (the store busy or away) is logged and tried again: the run is judged dead only after STALE_S."""
    claim(store, run_id)
    done = threading.Event()

    def run() -> None:
        while not done.wait(every_s):
            try:
                if not beat(store, run_id):
                    return  # the run ended (cancelled, finished): nothing more to prove
            except Exception:  # noqa: BLE001 - the store is busy or down: the next beat tries again
                log.warning("backtest run %s: heartbeat failed", run_id, exc_info=True)

    thread = threading.Thread(target=run, name=f"backtest-heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=every_s + 30)


def _alive(pid_text: str) -> bool:
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except (ValueError, OverflowError, OSError):  # not a process id, or one we may not signal: not ours to end
        return True
    return True


def _why(host: str, pid: str, last: datetime | None, now: datetime, here: str, stale_after_s: float) -> str | None:
    """Why the job of a run marked (host, pid, last beat) cannot finish it, or None while it may."""
    if host == here and not _alive(pid):
        return (f"its job stopped without finishing (process {pid} on {host} is gone: the web server restarted or "
                "the job was killed); start it again")
    if last is not None and now - last > timedelta(seconds=stale_after_s):
        return (f"its job stopped without finishing: worker stopped: no heartbeat since {last:%H:%M:%S} UTC "
                f"(process {pid} on {host}, silent for more than {stale_after_s:g} s: it was killed or its machine "
                "was lost); start it again")
    return None


def end_dead_jobs(store: Store, clock: Clock | None = None, stale_after_s: float = STALE_S) -> list[int]:
    """End as failed the running runs whose job is gone (see the module docstring); returns their ids."""
    here = socket.gethostname()
    with store.read() as s:
        marked = s.execute(select(BacktestRun.id, BacktestRun.message).where(
            BacktestRun.status == "running", BacktestRun.message.startswith(MARK, autoescape=True))).all()
        now = server_now(s) if marked else None
    ended = []
    for run_id, mark in marked:
        parts = read_mark(mark)
        if parts is None or now is None:
            continue
        why = _why(*parts, now, here, stale_after_s)
        if why is None:
            continue
        with store.write() as s:  # only while it still carries the mark read: a live job's beat or end wins
            result = s.execute(update(BacktestRun).where(BacktestRun.id == run_id, BacktestRun.status == "running",
                                                         BacktestRun.message == mark).values(
                status="failed", finished_at=(clock or SystemClock()).now(), message=why))
        if getattr(result, "rowcount", 0):
            ended.append(int(run_id))
    return ended
