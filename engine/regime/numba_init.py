"""Initialise numba once, in the thread that starts the engine, before any job thread can compile.

numba finishes its own set-up (a series of imports inside numba) at the first compilation in a process.
When two threads reach that first compilation at once (the market job and another job, or a test and an
embedded engine), Python can hand one of them a half-imported numba module, and every later compilation in
that process fails with "module 'numba' has no attribute 'core'" (seen in CI: a whole test worker's regime
replays failed). Compiling one trivial function first, from one thread, completes the set-up.
"""
from __future__ import annotations

import threading

_lock = threading.Lock()
_done = False


def initialise_numba() -> None:
    """Run numba's first compilation here (idempotent, thread-safe; about a second the first time)."""
    global _done
    with _lock:
        if _done:
            return
        from numba import njit  # local import: numba is heavy; only processes that classify load it

        @njit(cache=False)
        def _plus_one(x: int) -> int:
            return x + 1

        _plus_one(1)
        _done = True
