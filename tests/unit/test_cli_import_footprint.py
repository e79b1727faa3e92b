"""The operator's command-line tools (`python -m engine halt|status|users ...`) start without loading the engine:
no simulated market, no scipy clustering, no scheduler. Checked in a fresh interpreter, as an operator starts it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("engine.market.simulated", "scipy.cluster", "scipy.signal", "engine.scheduler", "apscheduler", "sklearn")


def test_the_trade_control_and_users_tools_do_not_load_the_engine() -> None:
    probe = ("import sys, engine.__main__, engine.trading.cli, engine.auth.cli; "
             f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=True)
    assert done.stdout.strip() == "", f"loaded at start-up: {done.stdout.strip()}"
