"""Audit 23 #4: at DEBUG, notification secrets reached the log: apprise's "Loaded JSON URL" line carried a header
token (+X-Api-Key=..., re-encoded as %2BX-Api-Key=...) and urllib3's request line a form:// query token. Real
apprise sends to a real HTTP receiver on 127.0.0.1; every log record is captured at DEBUG, both with the
project's logging (configure_logging) and with a root logger set to DEBUG some other way (basicConfig)."""
from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from engine import notify
from engine.logging_setup import configure_logging
from tests.notify_receiver import Receiver

HEADER_TOKEN = "HdrTokenSecret77"
QUERY_TOKEN = "QryTokenSecret55"
PASSWORD = "PassW0rdSecret9"


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.levelname} {record.getMessage()}")


@pytest.fixture
def saved_logging() -> Iterator[None]:
    """Put the root logger and the loggers this test touches back as they were."""
    root = logging.getLogger()
    names = ("apprise", "urllib3", "urllib3.connectionpool", "apscheduler", "werkzeug", "alembic.runtime.plugins")
    before = (root.level, list(root.handlers), {n: logging.getLogger(n).level for n in names})
    yield
    root.setLevel(before[0])
    root.handlers[:] = before[1]
    for name, level in before[2].items():
        logging.getLogger(name).setLevel(level)


def _send_and_capture(receiver: Receiver) -> list[str]:
    capture = Capture()
    logging.getLogger().addHandler(capture)
    urls = [f"json://hookuser:{PASSWORD}@127.0.0.1:{receiver.port}/hook?+X-Api-Key={HEADER_TOKEN}",
            f"form://127.0.0.1:{receiver.port}/form?-token={QUERY_TOKEN}"]
    notifier = notify.configure(urls, rate_max=None, attempts=1)
    try:
        assert notifier.send("debug-log title", "debug-log body", "warning")
        assert notifier.flush(20)
        receiver.wait_for(2, timeout_s=20)
    finally:
        notify.configure([])
        logging.getLogger().removeHandler(capture)
    with receiver.lock:
        paths = [r["path"] for r in receiver.requests]
    assert any(QUERY_TOKEN in p for p in paths), paths  # the secrets were really sent: they could have leaked
    assert capture.lines, "nothing was logged at DEBUG"
    return capture.lines


@pytest.mark.parametrize("setup", ["configure_logging", "basicConfig"])
def test_no_notification_secret_is_logged_at_debug(setup, saved_logging):
    if setup == "configure_logging":
        configure_logging("DEBUG")  # REGIMEDESK_LOG_LEVEL=DEBUG
    else:  # someone else's DEBUG logging: every logger at its default level
        for name in ("apprise", "urllib3", "urllib3.connectionpool"):
            logging.getLogger(name).setLevel(logging.NOTSET)
        logging.getLogger().setLevel(logging.DEBUG)
    with Receiver() as receiver:
        lines = _send_and_capture(receiver)
    for secret in (HEADER_TOKEN, QUERY_TOKEN, PASSWORD, "hookuser"):
        leaked = [line for line in lines if secret in line]
        assert not leaked, f"{secret} in the log: {leaked[0][:300]}"
