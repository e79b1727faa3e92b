"""gunicorn settings read by `gunicorn app:server` started in this directory (or `-c gunicorn.conf.py`).

Refuses to start several workers without REGIMEDESK_SECRET_KEY: each worker would sign sessions with
its own random key, and a login made through one worker would be refused by the next (a user logged
out on every other request). Also the defaults the deployment guide (docs/deploy.md) assumes.
"""
from __future__ import annotations

import os
import sys
from typing import Any

bind = os.environ.get("REGIMEDESK_BIND", "127.0.0.1:8050")
worker_class = "gthread"
threads = int(os.environ.get("REGIMEDESK_WEB_THREADS", "4"))
timeout = 60
graceful_timeout = 20
# Longer than a proxy's or browser's idle keep-alive (nginx upstream 60 s): a connection the server closes while the
# client reuses it is a reset POST the client does not retry (the load bench saw 4 in 19,000 with 5 s).
keepalive = 75


def secret_refusal(worker_count: int, environ: dict[str, str]) -> str | None:
    """The one-line reason gunicorn must not start, or None."""
    if worker_count > 1 and not environ.get("REGIMEDESK_SECRET_KEY", "").strip():
        return (f"configuration error: REGIMEDESK_SECRET_KEY: required with {worker_count} gunicorn workers "
                "(each would otherwise sign sessions with its own random key); set the same random value of at "
                "least 32 characters for every worker, e.g. "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'")
    return None


def on_starting(server: Any) -> None:
    reason = secret_refusal(int(server.cfg.workers), dict(os.environ))
    if reason:
        print(reason, file=sys.stderr, flush=True)
        sys.exit(2)


def child_exit(server: Any, worker: Any) -> None:
    """prometheus-client multiprocess mode: a gone worker's live gauges leave the /metrics sums."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker: Any) -> None:
    """Profiling only (REGIMEDESK_PROFILE_DIR set): measure each request's CPU in this worker (bench/wsgi_profile.py)."""
    if os.environ.get("REGIMEDESK_PROFILE_DIR"):
        from bench.wsgi_profile import wrap_worker  # local import: profiling only

        wrap_worker(worker)


def worker_exit(server: Any, worker: Any) -> None:
    if os.environ.get("REGIMEDESK_PROFILE_DIR"):
        from bench.wsgi_profile import dump_worker  # local import: profiling only

        dump_worker(worker)
