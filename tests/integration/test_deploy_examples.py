"""The deployment examples of docs/deploy.md run as written: deploy/Procfile, deploy/systemd/*.service|timer
and deploy/regimedesk.env.example.

- `systemd-analyze verify` accepts every unit (paths pointed at this checkout and interpreter).
- Each unit's ExecStart is its Procfile line (same program, same arguments once the environment file's
  variables are expanded), so testing one tests the other; the migration unit's is MIGRATE, which is not a Procfile
  line (honcho and foreman stop every process when one exits).
- The Procfile's processes, started through `sh -c` with the example environment file (test database,
  Redis db and port swapped in): migrate, engine, gunicorn with 2 workers, Celery worker. Then: /readyz
  answers 200, a viewer logs in, the engine's heartbeat is on /metrics with the bearer token, the Celery
  worker answers a ping, the session cookie is Secure when the proxy says HTTPS and not otherwise; SIGTERM
  stops every process with exit code 0.
"""
from __future__ import annotations

import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.auth_helpers import PASSWORDS, csrf_from

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = {"engine": "regimedesk-engine.service", "web": "regimedesk-web.service",
         "worker": "regimedesk-worker.service"}
MIGRATE = "python -m engine migrate"  # run before the Procfile's processes (docs/deploy.md, "Process commands")
VENV_BIN = "/opt/regimedesk/venv/bin/"
REDIS_DB = 11
# The tests here that use Redis database 11 flush it: run them in one xdist worker, one after another
# (--dist loadgroup), or one test's flush would wipe the other's cache and tasks.
pytestmark = pytest.mark.xdist_group("redis-db-11")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def procfile() -> dict[str, str]:
    entries = {}
    for line in (DEPLOY / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


def env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def exec_start(unit: str) -> str:
    lines = [line.split("=", 1)[1] for line in (DEPLOY / "systemd" / unit).read_text().splitlines()
             if line.startswith("ExecStart=")]
    assert len(lines) == 1, unit
    return lines[0]


def _expand(command: str, env: dict[str, str]) -> list[str]:
    """`${VAR}` and `${VAR:-default}` expanded like sh (and systemd, for ${VAR}) would, then split."""
    def sub(m: re.Match) -> str:
        name, _, default = m.group(1).partition(":-")
        return env.get(name) or default

    return shlex.split(re.sub(r"\$\{([^}]+)\}", sub, command))


def test_dep001_units_pass_systemd_analyze(tmp_path: Path) -> None:
    from tests.conftest import skip_or_fail

    tool = shutil.which("systemd-analyze")
    if tool is None:
        skip_or_fail("systemd-analyze is not installed")
        return
    env_path = tmp_path / "regimedesk.env"
    env_path.write_text((DEPLOY / "regimedesk.env.example").read_text())
    bindir = str(Path(sys.executable).parent) + "/"
    for unit in sorted((DEPLOY / "systemd").iterdir()):
        text = unit.read_text().replace(VENV_BIN, bindir).replace("/opt/regimedesk", str(ROOT))
        text = text.replace("/etc/regimedesk/regimedesk.env", str(env_path))
        (tmp_path / unit.name).write_text(text)
    units = sorted(str(p) for p in tmp_path.iterdir() if p.suffix in (".service", ".timer"))
    done = subprocess.run([tool, "verify", "--man=no", *units], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), done.stdout + done.stderr


def test_dep002_each_unit_runs_its_procfile_command() -> None:
    env = env_file(DEPLOY / "regimedesk.env.example")
    proc = procfile()
    assert set(proc) == set(UNITS)  # long-running processes only: a line that exits stops them all under honcho
    assert _expand(exec_start("regimedesk-migrate.service")[len(VENV_BIN):], env) == _expand(MIGRATE, env)
    for name, unit in UNITS.items():
        command = exec_start(unit)
        assert command.startswith(VENV_BIN), unit
        assert _expand(command[len(VENV_BIN):], env) == _expand(proc[name], env), unit


def _stop(procs: dict[str, subprocess.Popen]) -> dict[str, int | None]:
    for p in procs.values():
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    codes = {}
    for name, p in procs.items():
        try:
            codes[name] = p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
            codes[name] = None
    return codes


def test_dep003_procfile_processes_serve_and_stop_cleanly(pg_url: str, tmp_path: Path) -> None:
    import redis

    from tests.conftest import skip_or_fail

    cache_url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    r = redis.Redis.from_url(cache_url, socket_connect_timeout=2)
    try:
        r.flushdb()
    except redis.RedisError as exc:
        skip_or_fail(f"Redis is not reachable: {exc}")
        return
    port = _free_port()
    example = env_file(DEPLOY / "regimedesk.env.example")
    metrics_token = secrets.token_urlsafe(32)
    example.update({"REGIMEDESK_DATABASE_URL": pg_url, "REGIMEDESK_CACHE_URL": cache_url,
                    "REGIMEDESK_SECRET_KEY": secrets.token_urlsafe(48), "REGIMEDESK_BIND": f"127.0.0.1:{port}",
                    "REGIMEDESK_METRICS_TOKEN": metrics_token, "WEB_CONCURRENCY": "2", "CELERY_CONCURRENCY": "1",
                    "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
                    # test pace: a quick warm-up, no autotrading
                    "REGIMEDESK_WARMUP_POLLS": "200", "REGIMEDESK_AUTOTRADE": "false"})
    (tmp_path / "prometheus").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGIMEDESK_")}
    env.update(example)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    commands = procfile()
    subprocess.run(["sh", "-c", MIGRATE], cwd=ROOT, env=env, check=True, timeout=120, capture_output=True)
    subprocess.run(["sh", "-c", "python -m engine users add viewer --role viewer --password-stdin"], cwd=ROOT,
                   env=env, input=PASSWORDS["viewer"] + "\n", text=True, check=True, timeout=60, capture_output=True)
    procs: dict[str, subprocess.Popen] = {}
    logs = {}
    try:
        for name in ("engine", "web", "worker"):
            logs[name] = tmp_path / f"{name}.log"
            procs[name] = subprocess.Popen(["sh", "-c", "exec " + commands[name]], cwd=ROOT, env=env,
                                           stdout=logs[name].open("w"), stderr=subprocess.STDOUT,
                                           start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        ready = None
        while time.monotonic() < deadline:
            assert all(p.poll() is None for p in procs.values()), {n: logs[n].read_text()[-2000:] for n in logs}
            try:
                ready = requests.get(url + "/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        assert ready is not None and ready.status_code == 200, logs["web"].read_text()[-2000:]

        session = requests.Session()
        token = csrf_from(session.get(url + "/login", timeout=30).text)
        plain = session.post(url + "/login", data={"username": "viewer", "password": PASSWORDS["viewer"],
                                                  "csrf_token": token}, allow_redirects=False, timeout=30)
        assert plain.status_code == 302
        assert "secure" not in plain.headers["Set-Cookie"].lower()  # plain HTTP: not Secure
        tls = requests.Session()
        token = csrf_from(tls.get(url + "/login", headers={"X-Forwarded-Proto": "https"}, timeout=30).text)
        # the proxy's browser sends the (Secure) pre-login cookie back over HTTPS; requests would not over http
        jar = "; ".join(f"{c.name}={c.value}" for c in tls.cookies)
        behind = requests.post(url + "/login", data={"username": "viewer", "password": PASSWORDS["viewer"],
                                                     "csrf_token": token},
                               headers={"X-Forwarded-Proto": "https", "Cookie": jar}, allow_redirects=False, timeout=30)
        assert behind.status_code == 302
        cookies = re.split(r", (?=[A-Za-z_]+=)", behind.headers["Set-Cookie"])
        assert any(c.startswith("regimedesk_session=") for c in cookies), cookies
        assert all("; secure" in c.lower() for c in cookies), cookies  # HTTPS at the proxy: every cookie Secure

        deadline = time.monotonic() + 60
        age = None
        while time.monotonic() < deadline:
            metrics = requests.get(url + "/metrics", headers={"Authorization": f"Bearer {metrics_token}"}, timeout=10)
            assert metrics.status_code == 200
            found = re.search(r"^regimedesk_engine_heartbeat_age_seconds (\S+)$", metrics.text, re.M)
            if found and float(found.group(1)) < 5:
                age = float(found.group(1))
                break
            time.sleep(1)
        assert age is not None, logs["engine"].read_text()[-2000:]

        from engine.settings import load_settings
        from webapp.background import celery_app

        app = celery_app(load_settings(database_url=pg_url, cache_url=cache_url))
        replies: list = []
        deadline = time.monotonic() + 60
        while not replies and time.monotonic() < deadline:
            replies = app.control.ping(timeout=2.0) or []
        assert replies, logs["worker"].read_text()[-2000:]
    finally:
        codes = _stop(procs)
        r.flushdb()
    assert codes == {"engine": 0, "web": 0, "worker": 0}, {n: logs[n].read_text()[-1500:] for n in logs}
