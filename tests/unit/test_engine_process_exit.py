"""The embedded web's engine child: an exit 0 (its graceful shutdown ran) is not logged as an error."""
from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest

from webapp.engine_process import EngineProcess


@pytest.mark.parametrize(("code", "level", "words"), [
    (0, logging.WARNING, "the engine process stopped after a graceful shutdown; starting it again in 0.2 s "
                         "(trading stays STOPPED until an operator resumes)"),
    (3, logging.ERROR, "the engine process exited with 3; restarting it in 0.2 s"),
])
def test_how_a_child_exit_is_logged(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
                                    code: int, level: int, words: str) -> None:
    spawned: list[subprocess.Popen] = []

    def spawn(_self: EngineProcess) -> subprocess.Popen:  # a child that exits at once with `code`, then sleeps
        proc = subprocess.Popen([sys.executable, "-c", f"import sys, time; sys.exit({code})" if not spawned
                                 else "import time; time.sleep(30)"])
        spawned.append(proc)
        return proc

    monkeypatch.setattr(EngineProcess, "_spawn", spawn)
    engine = EngineProcess(stop_timeout_s=2.0, restart_delay_s=0.2)
    with caplog.at_level(logging.INFO, logger="webapp.engine_process"):
        engine.start()
        deadline = time.monotonic() + 10
        while len(spawned) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        engine.shutdown()
    assert len(spawned) == 2 and engine.restarts == 1
    exits = [r for r in caplog.records if "engine process" in r.getMessage() and "again" in r.getMessage()
             or "restarting" in r.getMessage()]
    assert [(r.levelno, r.getMessage()) for r in exits] == [(level, words)]
