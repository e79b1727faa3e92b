"""Fewer glibc malloc arenas for the engine process, so its memory stays under the workbook's memory_usage.

glibc gives each thread that allocates concurrently an arena of its own (up to 8 per core); the engine runs
a dozen scheduler threads whose numpy and pandas temporaries land in different arenas, and memory freed in
one arena is not reused by another. The result is resident memory that grows with the thread count, not
with the data. `mallopt(M_ARENA_MAX, 2)` (the documented knob behind MALLOC_ARENA_MAX) caps them; arenas
are created lazily, so calling it before the scheduler starts its threads covers them all. Measured with
`python -m bench.bench_engine_memory`. A no-op on a C library without mallopt (musl, macOS).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc malloc.h
ENGINE_ARENAS = 2


def limit_malloc_arenas(arenas: int = ENGINE_ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process; True when the C library accepted it."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    accepted = bool(mallopt(M_ARENA_MAX, arenas))
    log.debug("malloc arenas capped at %d: %s", arenas, accepted)
    return accepted
