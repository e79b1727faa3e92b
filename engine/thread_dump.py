"""`kill -USR1 PID`: every thread's stack on standard error, and the engine runs on.

faulthandler.register(SIGUSR1, all_threads=True) did this from the C signal handler, which walks the
interpreter's thread list without the interpreter lock: a thread starting or ending during the walk crashed the
engine with SIGSEGV (CI: the engine died on the operator's diagnostic signal). This handler is a Python-level
one instead: it runs in the main thread between bytecodes with the lock held, where the thread list is
consistent. faulthandler stays enabled for real crashes (its dump is then the last thing the process does).
"""
from __future__ import annotations

import signal
import sys
import threading
import traceback
from types import FrameType


def format_all_threads() -> str:
    """Each thread's name, id and stack, newest call first (the layout of faulthandler's dump)."""
    names = {t.ident: t.name for t in threading.enumerate()}
    current = threading.get_ident()
    blocks = []
    for ident, frame in sys._current_frames().items():
        marker = "Current thread" if ident == current else "Thread"
        stack = "".join(reversed(traceback.format_stack(frame)))
        blocks.append(f"{marker} 0x{ident:x} {names.get(ident, '?')} (most recent call first):\n{stack}")
    return "\n".join(blocks)


def _dump(_signum: int, _frame: FrameType | None) -> None:
    sys.stderr.write(format_all_threads() + "\n")
    sys.stderr.flush()


def install_thread_dump(signum: int = signal.SIGUSR1) -> None:
    """Call from the main thread (Python installs signal handlers only there)."""
    signal.signal(signum, _dump)
