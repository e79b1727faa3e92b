"""Audit 41: an operator can send a test notification (`python -m engine notify test`) and read, per target,
whether it arrived; before, the only test of REGIMEDESK_NOTIFY_URLS was a real HALT page. A real process, a real
HTTP receiver on 127.0.0.1; the target's token is never printed."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.notify_receiver import Receiver

REPO = Path(__file__).resolve().parents[2]
TOKEN = "xoxb-4815162342-SECRETTOKEN"


def _run(urls: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "REGIMEDESK_NOTIFY_URLS": urls}
    return subprocess.run([sys.executable, "-m", "engine", "notify", "test"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_a_test_message_reaches_each_target_and_says_which_did_not() -> None:
    with Receiver() as good, Receiver(statuses=[500] * 10) as broken:
        done = _run(f"{good.url()} {broken.url('down')} slak://{TOKEN}/C0123456")
        received = good.wait_for(1)
    lines = done.stdout.splitlines()
    assert done.returncode == 1, done.stderr[-500:]
    assert lines == [f"json://127.0.0.1:{good.port}/***: delivered (attempt 1)",
                     f"json://127.0.0.1:{broken.port}/***: not delivered after 4 attempt(s) (the log says why)",
                     "slak://***: not a valid apprise URL: a mistyped scheme, or a missing or malformed token"]
    assert [r["json"]["title"] for r in received] == ["RegimeDesk: test notification"]
    assert TOKEN not in done.stdout + done.stderr


def test_every_target_taking_it_exits_0_and_no_target_says_so() -> None:
    with Receiver() as good:
        done = _run(good.url())
    assert done.returncode == 0 and done.stdout.strip() == f"json://127.0.0.1:{good.port}/***: delivered (attempt 1)"
    empty = _run("")
    assert empty.returncode == 1
    assert empty.stdout.strip() == "no notification targets: REGIMEDESK_NOTIFY_URLS is empty; nothing was sent"
