"""Start-up time of `python app.py` to the first page served, against a bare Dash app in the same run.

Run: python bench/bench_startup.py   (prints medians of 3 starts each; fresh SQLite store per start)
"""
from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BARE_APP = """
import sys
from dash import Dash, html
app = Dash(__name__)
app.layout = html.Div("bare")
app.run(host="127.0.0.1", port=int(sys.argv[1]), debug=False)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_to_first_page(cmd: list[str], port: int, env: dict[str, str], path: str = "/") -> float:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as response:
                    if response.status == 200:
                        return time.perf_counter() - t0
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"{cmd} exited with {proc.returncode}") from None
                if time.perf_counter() - t0 > 120:
                    raise RuntimeError("no page within 120 s") from None
                time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(repeat: int = 3) -> None:
    bare, full = [], []
    for _ in range(repeat):
        port = free_port()
        bare.append(time_to_first_page([sys.executable, "-c", BARE_APP, str(port)], port, dict(os.environ)))
        with tempfile.TemporaryDirectory() as tmp:
            port = free_port()
            env = {**os.environ, "REGIMEDESK_DATABASE_URL": f"sqlite:///{tmp}/bench.db", "REGIMEDESK_PORT": str(port)}
            full.append(time_to_first_page([sys.executable, "app.py"], port, env))
    b, f = statistics.median(bare), statistics.median(full)
    print(f"bare Dash app to first page:        median {b:.2f} s  ({', '.join(f'{x:.2f}' for x in bare)})")
    print(f"RegimeDesk (fresh store, migrate, warm-up) to first page: median {f:.2f} s  "
          f"({', '.join(f'{x:.2f}' for x in full)})")
    print(f"ratio RegimeDesk / bare Dash: {f / b:.1f}x")


if __name__ == "__main__":
    main()
