"""Refuse to run against a database whose schema is not the one the code needs (standalone engine, web-only).

Behind (older or empty): `python -m engine migrate` brings it up. Ahead (a revision these migration
scripts do not know: a newer release migrated it): run that release, or downgrade the schema with it.
"""
from __future__ import annotations

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from engine.settings import PROJECT_ROOT
from engine.store.db import Store, StoreError


def alembic_config() -> Config:
    """Alembic's configuration for this checkout's migrations (used by the check and by the migration)."""
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    return cfg


def _revisions(store: Store) -> tuple[str | None, str | None, set[str]]:
    script = ScriptDirectory.from_config(alembic_config())
    with store.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current, script.get_current_head(), {rev.revision for rev in script.walk_revisions()}


def ahead_problem(store: Store) -> str | None:
    """One line when the database is at a revision this code does not know (migrated by a newer release)."""
    current, head, known = _revisions(store)
    if current is None or current in known:
        return None
    return (f"the database {store.safe_url()} is at schema {current}, newer than this code (which knows up to "
            f"{head}): run the release that migrated it, or downgrade the schema with that release's "
            f"`alembic downgrade {head}`")


def schema_problem(store: Store) -> str | None:
    """None when the database is at this code's newest revision, else one line saying what to run."""
    current, head, _known = _revisions(store)
    if current == head:
        return None
    ahead = ahead_problem(store)
    if ahead is not None:
        return ahead
    return (f"the database {store.safe_url()} is at schema {current or 'empty'}, the code needs {head}: "
            "run `python -m engine migrate` first")


def require_current_schema(store: Store) -> None:
    problem = schema_problem(store)
    if problem is not None:
        raise StoreError(problem)
