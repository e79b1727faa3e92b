"""Bounded polling for tests that wait on another thread or process."""
from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(cond: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Poll `cond` every 20 ms until it holds or `timeout_s` passes; returns its last answer."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()
