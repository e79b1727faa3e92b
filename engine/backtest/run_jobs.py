"""Which process runs a stored backtest's job, and whether it still does, so a run whose job died does not stay
"running" for ever.

The web job marks its run with its machine and process and a heartbeat ("job host:pid beat <time>", in the run's
message while it runs) and stamps the heartbeat again every BEAT_S from a thread of its own (`heartbeat`). The
time is the database server's (engine/store/db_clock.py), so machines whose clocks disagree judge the same beat.
A run is ended as failed, with the reason, when the page lists runs or watches the run it started
(`end_dead_jobs`; webapp/backtest_watch.py):

- its process is gone from this machine (the web server restarted, the worker was killed): at once;
- its heartbeat is older than STALE_S (the worker on another machine was killed or the machine lost, or a process
  id reused here keeps a dead run looking alive): "worker stopped: no heartbeat since HH:MM:SS";
- no job claimed it within NO_WORKER_S of its recording (no background worker took it: with Celery, none is
  running or all are busy; the queue is bounded, webapp/background.py MAX_QUEUED): "no background worker took it
  within 10 minutes; nothing ran; start it again". A run is recorded with a queue mark ("queued <time>", database
  time: `queued_mark`) that the job's claim replaces; the page shows such a run as waiting for a background worker
  (`waiting_since`). A running run with no mark at all (recorded before queue marks were) is aged from its
  created_at.

A live job beats every BEAT_S, far within STALE_S, and every end is conditional on the mark read (a beat or a
claim in between keeps the run running), so a live job is never ended by mistake; a job that claims a run ended
meanwhile claims nothing and runs nothing (execute reads the run's status first). A mark without a beat (written
before heartbeats were) is judged by its process only.
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

from sqlalchemy import or_, select, update

from engine.clock import Clock, SystemClock
from engine.store.db import Store
from engine.store.db_clock import as_utc, server_now
from engine.store.models import BacktestRun

log = logging.getLogger(__name__)

MARK = "job "
BEAT = " beat "
BEAT_S = 2.0  # how often a running job stamps its heartbeat
STALE_S = 30.0  # a running run whose heartbeat is older than this has lost its worker (15 missed beats)
QUEUED = "queued "
NO_WORKER_S = 600.0  # a run no job has claimed within this long is ended: no background worker took it (10 minutes)
DEAD = "its job stopped without finishing"  # how a run ended by its job's death says so
NO_WORKER = "no background worker took it"  # how a run ended unclaimed says so
_MARK_RE = re.compile(r"^job (?P<host>\S*):(?P<pid>[^:\s]+)(?: beat (?P<beat>\S+))?$")


def job_mark(host: str | None = None, pid: int | None = None, beat: datetime | None = None) -> str:
    """The running run's mark: its job's machine and process, and its newest heartbeat (database time)."""
    base = f"{MARK}{host or socket.gethostname()}:{pid or os.getpid()}"
    return base if beat is None else f"{base}{BEAT}{beat.isoformat()}"


def queued_mark(at: datetime) -> str:
    """A recorded run's mark until a job claims it: when it was queued (database time)."""
    return f"{QUEUED}{at.isoformat()}"


def is_job_mark(message: str | None) -> bool:
    """True for a running run's job or queue mark (not a reason to show the user)."""
    return bool(message) and str(message).startswith((MARK, QUEUED))


def waiting_since(message: str | None) -> datetime | None:
    """When a run still waiting for a job was queued (its queue mark), else None (claimed, ended, unreadable)."""
    text = str(message or "")
    if not text.startswith(QUEUED):
        return None
    try:
        return as_utc(datetime.fromisoformat(text[len(QUEUED):]))
    except ValueError:
        return None


def ended_by_judgement(message: str | None) -> bool:
    """True for the reason `end_dead_jobs` stores (the job died, or none took the run): no job says it itself."""
    return str(message or "").startswith((DEAD, NO_WORKER))


def span(seconds: float) -> str:
    """A bound in words: "10 minutes", "1 minute", "3 s"."""
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} s"


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
        return (f"{DEAD} (process {pid} on {host} is gone: the web server restarted or "
                "the job was killed); start it again")
    if last is not None and now - last > timedelta(seconds=stale_after_s):
        return (f"{DEAD}: worker stopped: no heartbeat since {last:%H:%M:%S} UTC "
                f"(process {pid} on {host}, silent for more than {stale_after_s:g} s: it was killed or its machine "
                "was lost); start it again")
    return None


def _why_unclaimed(queued: datetime, now: datetime, unclaimed_after_s: float) -> str | None:
    """Why a run no job has claimed since `queued` will not run, or None while one may still take it."""
    if now - queued <= timedelta(seconds=unclaimed_after_s):
        return None
    return (f"{NO_WORKER} within {span(unclaimed_after_s)} (queued at {queued:%H:%M:%S} UTC); nothing ran; "
            "start it again")


def _judge(message: str | None, created_at: datetime, now: datetime, here: str, stale_after_s: float,
           unclaimed_after_s: float) -> str | None:
    if message is None:  # recorded before queue marks were: aged from its recording
        return _why_unclaimed(as_utc(created_at), now, unclaimed_after_s)
    queued = waiting_since(message)
    if queued is not None:
        return _why_unclaimed(queued, now, unclaimed_after_s)
    parts = read_mark(message)
    return None if parts is None else _why(*parts, now, here, stale_after_s)


def end_dead_jobs(store: Store, clock: Clock | None = None, stale_after_s: float = STALE_S,
                  unclaimed_after_s: float = NO_WORKER_S) -> list[int]:
    """End as failed the running runs whose job is gone or that no job took (see the module docstring); returns
    their ids. `unclaimed_after_s`: how long a recorded run may wait for a job (NO_WORKER_S)."""
    here = socket.gethostname()
    with store.read() as s:
        marked = s.execute(select(BacktestRun.id, BacktestRun.message, BacktestRun.created_at).where(
            BacktestRun.status == "running",
            or_(BacktestRun.message.is_(None), BacktestRun.message.startswith(MARK, autoescape=True),
                BacktestRun.message.startswith(QUEUED, autoescape=True)))).all()
        now = server_now(s) if marked else None
    ended = []
    for run_id, mark, created_at in marked:
        if now is None:
            continue
        why = _judge(mark, created_at, now, here, stale_after_s, unclaimed_after_s)
        if why is None:
            continue
        read = BacktestRun.message.is_(None) if mark is None else BacktestRun.message == mark
        with store.write() as s:  # only while it still carries the mark read: a live job's claim, beat or end wins
            result = s.execute(update(BacktestRun).where(BacktestRun.id == run_id, BacktestRun.status == "running",
                                                         read).values(
                status="failed", finished_at=(clock or SystemClock()).now(), message=why))
        if getattr(result, "rowcount", 0):
            ended.append(int(run_id))
    return ended
