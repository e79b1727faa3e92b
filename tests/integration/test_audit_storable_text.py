"""An audited action whose text carries a NUL byte or a lone surrogate (a typed parameter text, a forged JSON
body) is recorded with U+FFFD in their place, on SQLite and PostgreSQL: PostgreSQL refuses a NUL in text and in
JSON, and the audit row shares the action's transaction, so the action itself failed with it."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from engine import audit
from engine.store.migrate import open_store
from engine.store.models import AuditEvent


def test_nul_and_lone_surrogates_are_stored_as_replacement_characters(any_db_url: str) -> None:
    store = open_store(any_db_url, migrate=True)
    try:
        with store.write() as s:
            audit.record(s, datetime(2026, 12, 7, tzinfo=UTC), "ada\x00", "params.apply", target="Sheet\x00A",
                         details={"note\x00": "x\x00y", "cells": ["a\ud800", 3, {"v": "\x00"}], "n": 1.5})
        with store.read() as s:
            row = s.scalars(select(AuditEvent)).one()
            assert (row.actor, row.target) == ("ada\ufffd", "Sheet\ufffdA")
            assert row.details == {"note\ufffd": "x\ufffdy", "cells": ["a\ufffd", 3, {"v": "\ufffd"}], "n": 1.5}
    finally:
        store.dispose()


def test_ordinary_text_is_unchanged_and_cut_as_before(any_db_url: str) -> None:
    store = open_store(any_db_url, migrate=True)
    try:
        with store.write() as s:
            audit.record(s, datetime(2026, 12, 7, tzinfo=UTC), "b" * 70, "order.submit", target="T" * 130,
                         details={"why": "é ✓ " * 100})
        with store.read() as s:
            row = s.scalars(select(AuditEvent)).one()
            assert (row.actor, row.target) == ("b" * 64, "T" * 128)
            assert row.details == {"why": "é ✓ " * 100}
    finally:
        store.dispose()
