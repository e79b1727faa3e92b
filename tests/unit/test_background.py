"""Background-callback manager: where its job cache lives, and that it really runs a job in a child
process and hands the result back (the path the Regime page's what-if takes)."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from dash import DiskcacheManager

from engine.settings import load_settings
from webapp.background import background_manager, cache_dir


def test_cache_dir_next_to_sqlite_store_or_under_temp(tmp_path: Path) -> None:
    sqlite = load_settings(database_url=f"sqlite:///{tmp_path / 'db' / 'r.db'}")
    assert cache_dir(sqlite) == (tmp_path / "db" / "background-callbacks").resolve()
    pg = load_settings(database_url="postgresql://u:secret@db.example:5432/regimedesk")
    path = cache_dir(pg)
    assert path.parent == Path(tempfile.gettempdir()) and "secret" not in str(path)
    assert cache_dir(pg) == path  # stable: several workers share one directory


def test_manager_runs_a_job_in_a_child_process(tmp_path: Path) -> None:
    manager = background_manager(load_settings(database_url=f"sqlite:///{tmp_path / 'r.db'}"))
    assert isinstance(manager, DiskcacheManager) and (tmp_path / "background-callbacks").is_dir()

    def work(set_progress, x: int) -> dict:  # type: ignore[no-untyped-def]
        set_progress((50, "half"))
        return {"pid": os.getpid(), "value": x * 2}

    job_fn = manager.make_job_fn(work, progress=True)
    pid = manager.call_job_fn("k1", job_fn, [21], {"args_grouping": [], "using_args_grouping": False,
                                                   "outputs_list": [], "inputs_list": [], "states_list": [],
                                                   "triggered_inputs": []})
    deadline = time.time() + 30
    while not manager.result_ready("k1"):
        assert time.time() < deadline, "the background job never finished"
        time.sleep(0.05)
    result = manager.get_result("k1", pid)
    assert result["value"] == 42 and result["pid"] == pid != os.getpid()
