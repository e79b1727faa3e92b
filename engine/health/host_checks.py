"""Health checks of the machine the engine runs on: its memory, and the disk where the database lives."""
from __future__ import annotations

import shutil
from pathlib import Path

import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url

from engine.context import EngineContext
from engine.health.grades import HEALTHY, CheckResult, grade, worst


def check_memory() -> CheckResult:
    rss_mb = psutil.Process().memory_info().rss / 1e6
    available = psutil.virtual_memory().percent
    return CheckResult("memory", worst([grade(rss_mb, 1500, 4000), grade(available, 90, 97)]),
                       f"process {rss_mb:.0f} MB; machine {available:.0f}% used", rss_mb)


def database_disk_path(ctx: EngineContext) -> tuple[str | None, str]:
    """Where the database's files live, if on this machine: the SQLite file's directory, or PostgreSQL's
    data_directory when the server runs here (the role may read it: superuser or pg_read_all_settings)."""
    url = make_url(ctx.store.url)
    if ctx.store.dialect == "sqlite":
        database = url.database or ""
        if not database or database == ":memory:":
            return None, "in-memory SQLite"
        return str(Path(database).resolve().parent), "SQLite file"
    try:
        with ctx.store.read() as session:
            data_dir = session.scalar(text("SELECT setting FROM pg_settings WHERE name = 'data_directory'"))
    except Exception as exc:  # noqa: BLE001 - a role without the right cannot see it; said in the detail
        return None, f"PostgreSQL data directory not readable ({type(exc).__name__})"
    if url.host not in (None, "", "localhost", "127.0.0.1", "::1") or not data_dir or not Path(data_dir).exists():
        return None, f"PostgreSQL on {url.host}: its disk is not visible from this machine"
    return data_dir, "PostgreSQL data directory"


def grade_disk_usage(total: int, used: int, free: int) -> tuple[str, float]:
    """(status, percent used) as df shows it: used / (used + free), `free` being what a non-root process may
    still write (shutil.disk_usage). used / total left out ext4's reserved blocks (5 % by default), so a disk
    full for the service read 80-95 % used. `total` only says whether there is a disk at all."""
    usable = used + free
    used_pct = used / usable * 100 if usable > 0 and total > 0 else 100.0
    return grade(used_pct, 90, 97), used_pct


def check_disk(ctx: EngineContext) -> CheckResult:
    """Free space where the database lives (not the current directory)."""
    path, what = database_disk_path(ctx)
    if path is None:
        return CheckResult("disk", HEALTHY, f"{what}; not measured here")
    usage = shutil.disk_usage(path)
    status, used_pct = grade_disk_usage(usage.total, usage.used, usage.free)
    return CheckResult("disk", status,
                       f"{what} {path}: {usage.free / 1e9:.1f} GB free ({used_pct:.0f}% used)", used_pct)
