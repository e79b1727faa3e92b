"""Whether a version's backtest validation (the Parameters page's background job) still runs, provably across
processes and machines, so a validation whose worker was killed is reported instead of waited for for ever.

The job records its run under the version's key (KEY_PREFIX + version id, in the key/value table: no migration)
with a token of its own, and stamps a heartbeat there every BEAT_S (the database server's time, as the backtest
runs do: engine/backtest/run_jobs.py). It records how it ended (done, failed, cancelled) when it ends. The page
that started it asks `judge` with the moment of the click: a run that is still "running" but silent for more than
STALE_S, or that never appeared within STALE_S of the click, has lost its worker; `judge` stores it as stopped
(only while it carries the token read, so a live job's beat wins) and says so. A validation never proposes or
applies anything, which the message says, so the user knows nothing changed.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.backtest.inputs import BacktestCancelled
from engine.backtest.run_jobs import BEAT_S, STALE_S
from engine.store.db import Store
from engine.store.db_clock import server_now
from engine.store.keyvalue import get_value, put_value

log = logging.getLogger(__name__)

KEY_PREFIX = "tuning.validation.v"  # + the version id: {"token", "status", "started", "beat", "worker", "outcome"}
NOTHING_CHANGED = "nothing was proposed or applied"
START_SLACK_S = 5.0  # a job may record its start a moment before the page notes the click (two requests at once)


def key(version_id: int) -> str:
    return f"{KEY_PREFIX}{int(version_id)}"


def now(store: Store) -> datetime:
    """The database server's time: the clock every beat and judgement of a validation uses."""
    with store.read() as s:
        return server_now(s)


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def start(store: Store, version_id: int) -> str:
    """Record a validation of `version_id` as running, beaten now; returns its token."""
    token = uuid.uuid4().hex
    with store.write() as s:
        t = server_now(s)
        put_value(s, key(version_id), {"token": token, "status": "running", "started": t.isoformat(),
                                       "beat": t.isoformat(), "worker": f"{socket.gethostname()}:{os.getpid()}"}, t)
    return token


def _update(store: Store, version_id: int, token: str, stamp: str, **changes: Any) -> bool:
    """Change the run `token` while it is running, `stamp` set to the database's time now (False, nothing
    written: another run replaced it, or it ended)."""
    with store.write() as s:
        record = get_value(s, key(version_id))
        if not isinstance(record, dict) or record.get("token") != token or record.get("status") != "running":
            return False
        t = server_now(s)
        put_value(s, key(version_id), {**record, **changes, stamp: t.isoformat()}, t)
    return True


def beat(store: Store, version_id: int, token: str) -> bool:
    return _update(store, version_id, token, "beat")


def finish(store: Store, version_id: int, token: str, status: str, outcome: str = "") -> bool:
    return _update(store, version_id, token, "ended", status=status, outcome=outcome[:500])


@contextmanager
def tracked(store: Store, version_id: int, every_s: float = BEAT_S) -> Iterator[str]:
    """`with tracked(store, version):` records the validation running, beats every `every_s` from a thread of its
    own, and records how the block ended (done; cancelled or failed with the exception)."""
    token = start(store, version_id)
    done = threading.Event()

    def run() -> None:
        while not done.wait(every_s):
            try:
                if not beat(store, version_id, token):
                    return
            except Exception:  # noqa: BLE001 - the store is busy or away: the next beat tries again
                log.warning("validation of version %s: heartbeat failed", version_id, exc_info=True)

    thread = threading.Thread(target=run, name=f"validation-heartbeat-{version_id}", daemon=True)
    thread.start()
    status, outcome = "done", ""
    try:
        yield token
    except BaseException as exc:
        status = "cancelled" if isinstance(exc, BacktestCancelled) else "failed"
        outcome = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        done.set()
        thread.join(timeout=every_s + 30)
        try:
            finish(store, version_id, token, status, outcome)
        except Exception:  # noqa: BLE001 - the store is away: the page then judges the run by its silence
            log.warning("validation of version %s: could not record its end", version_id, exc_info=True)


@dataclass(frozen=True)
class Verdict:
    state: str  # "running" (keep waiting), "ended" (the job's own answer shows), "stopped" (its worker is gone)
    message: str = ""


def judge(store: Store, version_id: int, since: datetime, stale_after_s: float = STALE_S) -> Verdict:
    """The validation of `version_id` the page started at `since` (database time): still running, ended, or
    stopped without a word (no heartbeat for `stale_after_s`, or none since the click): stored and said so."""
    with store.read() as s:
        record = get_value(s, key(version_id))
        t = server_now(s)
    record = record if isinstance(record, dict) else {}
    running, ended = record.get("status") == "running", _time(record.get("ended"))
    if not running and ended is not None and ended >= since - timedelta(seconds=START_SLACK_S):
        return Verdict("ended")  # the job's own answer (its table, or why not) is on the page
    beaten = _time(record.get("beat")) if running else None
    last = max(beaten, since) if beaten is not None else since
    if t - last <= timedelta(seconds=stale_after_s):
        return Verdict("running")
    if running:
        finish(store, version_id, str(record.get("token")), "stopped", f"no heartbeat since {last.isoformat()}")
        worker = f" ({record['worker']})" if record.get("worker") else ""
        return Verdict("stopped", f"The validation of version {version_id} stopped: its worker{worker} stopped: "
                                  f"no heartbeat since {last:%H:%M:%S} UTC; {NOTHING_CHANGED}. Validate it again.")
    return Verdict("stopped", f"The validation of version {version_id} never started: no worker took it within "
                              f"{stale_after_s:g} s of {since:%H:%M:%S} UTC; {NOTHING_CHANGED}. Validate it again.")
