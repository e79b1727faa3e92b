"""Where the login rate limit counts: Redis when REGIMEDESK_CACHE_URL is Redis (plain or TLS), else this process.

With per-process memory every gunicorn worker counts on its own, so N workers allow N times the limit per
address; nothing breaks, so it is said once at startup (a warning), not refused.
"""
from __future__ import annotations

import logging
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

# the schemes webapp/cache.py sends to Redis; the limits library reads both (rediss: TLS)
REDIS_SCHEMES = ("redis://", "rediss://")
MEMORY = "memory://"


def limiter_storage(cache_url: str) -> str:
    """The limiter's storage URI: the cache's Redis, or this process's memory."""
    return cache_url if cache_url.strip().lower().startswith(REDIS_SCHEMES) else MEMORY


def gunicorn_workers(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    """How many workers the gunicorn this process runs under starts (its command line, GUNICORN_CMD_ARGS, else
    WEB_CONCURRENCY, gunicorn's own default; a `workers` line in a config file is not seen); 1 when this is not a
    `gunicorn` command (python app.py runs one embedded worker)."""
    program = Path(argv[0]).name if argv else ""
    if program != "gunicorn" and not (program == "__main__.py" and Path(argv[0]).parent.name == "gunicorn"):
        return 1
    # local import: gunicorn's option parser, needed only under a gunicorn command line
    from gunicorn.config import Config

    parser = Config().parser()
    for args in (list(argv[1:]), shlex.split(environ.get("GUNICORN_CMD_ARGS", ""))):  # the command line wins
        parsed, _unknown = parser.parse_known_args(args)
        if parsed.workers:
            return int(parsed.workers)
    try:
        return max(1, int(environ.get("WEB_CONCURRENCY", "1")))
    except ValueError:
        return 1


def per_process_warning(storage: str, workers: int) -> str | None:
    """The startup warning when several workers would each keep their own login rate limit, or None."""
    if storage != MEMORY or workers <= 1:
        return None
    return (f"login rate limit: {workers} gunicorn workers each count login attempts in their own memory, so one "
            f"address gets up to {workers} times REGIMEDESK_LOGIN_RATE_LIMIT; set REGIMEDESK_CACHE_URL to a Redis "
            "URL (redis:// or rediss://) to share one count (the lockout per user name is in the store and holds)")


def warn_if_per_process(storage: str) -> None:
    message = per_process_warning(storage, gunicorn_workers(sys.argv, os.environ))
    if message:
        log.warning(message)
