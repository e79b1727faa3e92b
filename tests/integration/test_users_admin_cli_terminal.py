"""Audit 41: `python -m engine users passwd|add NAME --password-stdin` typed at a terminal (the first-run path the
login page and the docs point to when no admin exists). A plain readline echoed the password on screen as it
was typed, with no prompt; it is now asked twice without echo, and two different entries change nothing. A real
process on a real pseudo-terminal, against SQLite and PostgreSQL; the password is checked by a real login."""
from __future__ import annotations

import os
import pty
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.auth import users
from engine.clock import utcnow
from engine.store.migrate import open_store

REPO = Path(__file__).resolve().parents[2]
PROMPT_WAIT_S = 20.0
END_WAIT_S = 60.0
OLD = "quiet-river-stone-42"
NEW = "Secret-Typed-At-Terminal-77"
TWICE = [("password for", NEW), ("again:", NEW)]  # the prompts and what is typed


def _env(db_url: str) -> dict[str, str]:
    return {**os.environ, "REGIMEDESK_DATABASE_URL": db_url, "PYTHONPATH": str(REPO)}


def _at_terminal(db_url: str, argv: list[str], answers: list[tuple[str, str]]) -> tuple[int, str]:
    """Run `python -m engine ARGV` on a pseudo-terminal and answer like a person: wait for each prompt (at most
    PROMPT_WAIT_S; an old version printed none, then the line is typed anyway), type the line; returns the exit
    code and everything the terminal showed. The process is killed if it has not ended by END_WAIT_S."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once
        os.chdir(REPO)
        os.execve(sys.executable, [sys.executable, "-m", "engine", *argv], _env(db_url))
    shown = b""

    watch = selectors.DefaultSelector()  # epoll: select.select refuses a descriptor above 1023 (a long test run)
    watch.register(fd, selectors.EVENT_READ)

    def read_until(seconds: float, wanted: bytes | None = None, after: int = 0) -> None:
        nonlocal shown
        end = time.monotonic() + seconds
        while time.monotonic() < end and not (wanted and wanted in shown[after:]):
            if watch.select(0.1):
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # the child ended and closed the terminal
                    return
                if not chunk:
                    return
                shown += chunk

    status = None
    try:
        for prompt, line in answers:
            mark = len(shown)
            read_until(PROMPT_WAIT_S, prompt.encode(), mark)
            time.sleep(0.2)
            try:
                os.write(fd, line.encode() + b"\n")
            except OSError:
                break
        end = time.monotonic() + END_WAIT_S
        while status is None and time.monotonic() < end:
            read_until(0.5)
            done, code = os.waitpid(pid, os.WNOHANG)
            status = code if done else None
    finally:
        if status is None:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        watch.close()
        os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def _logs_in(db_url: str, password: str) -> bool:
    store = open_store(db_url, migrate=True)
    try:
        return users.authenticate(store, utcnow(), "bob", password, "127.0.0.1").ok
    finally:
        store.dispose()


def _add_bob(db_url: str) -> None:
    done = subprocess.run([sys.executable, "-m", "engine", "users", "add", "bob", "--role", "viewer",
                           "--password-stdin"], input=OLD + "\n", text=True, capture_output=True, env=_env(db_url),
                          cwd=REPO, timeout=120)
    assert done.returncode == 0 and "added bob (viewer)" in done.stdout, done.stderr[-500:]


def test_a_new_password_typed_at_a_terminal_is_not_shown_and_is_asked_twice(any_db_url: str) -> None:
    _add_bob(any_db_url)
    code, shown = _at_terminal(any_db_url, ["users", "passwd", "bob", "--password-stdin"], TWICE)
    assert code == 0, shown
    assert NEW not in shown, shown
    assert "password for bob:" in shown and "again:" in shown, shown
    assert "password of bob changed" in shown, shown
    assert _logs_in(any_db_url, NEW) and not _logs_in(any_db_url, OLD)


def test_two_different_entries_at_a_terminal_change_nothing(any_db_url: str) -> None:
    _add_bob(any_db_url)
    code, shown = _at_terminal(any_db_url, ["users", "passwd", "bob", "--password-stdin"],
                                  [("password for", NEW), ("again:", NEW + "x")])
    assert code == 1, shown
    assert "the two passwords differ; nothing changed" in shown, shown
    assert NEW not in shown
    assert _logs_in(any_db_url, OLD) and not _logs_in(any_db_url, NEW)


def test_the_first_admin_created_at_a_terminal_is_not_shown(any_db_url: str) -> None:
    code, shown = _at_terminal(any_db_url, ["users", "add", "ada", "--role", "admin", "--password-stdin"], TWICE)
    assert code == 0 and "added ada (admin)" in shown, shown
    assert NEW not in shown, shown
    store = open_store(any_db_url, migrate=True)
    try:
        assert users.authenticate(store, utcnow(), "ada", NEW, "127.0.0.1").ok
    finally:
        store.dispose()
