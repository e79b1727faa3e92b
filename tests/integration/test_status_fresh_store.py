"""`python -m engine status` on a store the engine has never run on (just migrated): it says no trading state is
recorded yet and why, still reports the engine and the broker, and exits 0; after a pause it shows the state.
On SQLite and PostgreSQL."""
from __future__ import annotations

import io

import pytest

from engine.trading import cli


@pytest.fixture()
def fresh(any_db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    from engine.store.migrate import open_store

    open_store(any_db_url, migrate=True).dispose()
    monkeypatch.setenv("REGIMEDESK_DATABASE_URL", any_db_url)
    return any_db_url


def test_status_of_a_fresh_store_says_no_state_is_recorded_yet(fresh: str) -> None:
    out = io.StringIO()
    assert cli.main(["status"], out=out) == cli.EXIT_OK
    lines = out.getvalue().splitlines()
    assert lines[0] == ("state:    none: no trading state is recorded yet: the engine has not run on this store "
                        "(its first run records ACTIVE)")
    assert lines[1].startswith("engine:   not running") and "open orders at paper: 0" in lines


def test_status_after_a_pause_shows_the_state(fresh: str) -> None:
    assert cli.main(["pause", "--reason", "lunch"], out=io.StringIO()) == cli.EXIT_OK
    out = io.StringIO()
    assert cli.main(["status"], out=out) == cli.EXIT_OK
    assert out.getvalue().startswith("state:    REDUCING")  # pause: no new exposure
    assert "reason:   lunch" in out.getvalue()
