"""Standard logging with structured context (job, symbol, order id) appended when present."""
from __future__ import annotations

import logging

_CONTEXT_KEYS = ("job", "symbol", "client_order_id", "command_id")
SECRETIVE_LOGGERS = ("apprise", "urllib3")  # never below INFO: their DEBUG lines carry notification secrets


class ContextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        extras = [f"{key}={getattr(record, key)}" for key in _CONTEXT_KEYS if hasattr(record, key)]
        return f"{base} [{' '.join(extras)}]" if extras else base


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(ContextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("apscheduler", "werkzeug", "urllib3", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # whatever the root level: at DEBUG, apprise logs each target URL it loads and urllib3 each request line,
    # both with their tokens (engine/notify.py also masks them, for a logging set up some other way)
    for secretive in SECRETIVE_LOGGERS:
        logger = logging.getLogger(secretive)
        logger.setLevel(max(logging.INFO, logger.level))
