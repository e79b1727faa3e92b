"""Two applies racing from the same active version, on SQLite and PostgreSQL (audit 2, defect 5).

Why: on PostgreSQL the second writer's SELECT ... FOR UPDATE waited on the active row and, once the first writer
committed, skipped it (no longer active) without seeing the new one: the second version was stored with no parent,
its changes counted against the defaults, and an editor's refusal read "version None became active". Writer A is
held inside its transaction (after its insert, before commit) while writer B starts; then A is released.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from sqlalchemy import select

from engine.params import ParamSet, StaleVersionError, default_params
from engine.params import versions as V
from engine.store.models import ParamVersion


def _atr(**changes: Any) -> ParamSet:
    c = default_params().to_canonical()
    c["sheets"]["ATRIndicatorsConfig"]["main"].update(changes)
    return ParamSet.from_canonical(c)


def _race(store, monkeypatch: pytest.MonkeyPatch, b_kwargs: dict[str, Any]) -> tuple[int, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Apply A (held before its commit) and B concurrently; returns A's version id and B's outcome."""
    hold, entered = threading.Event(), threading.Event()
    real = V.audit.record

    def record(*args: Any, **kw: Any) -> Any:
        if args[2] == "writer-A" and kw.get("outcome", "ok") == "ok":
            entered.set()
            assert hold.wait(20)
        return real(*args, **kw)

    monkeypatch.setattr(V.audit, "record", record)
    out: dict[str, Any] = {}

    def a() -> None:
        out["a"] = V.apply_version(store, _atr(atr_period=20), "writer-A", "ui")

    def b() -> None:
        try:
            out["b"] = V.apply_version(store, _atr(atr_period=20, atr_smoothing="SMA"), "writer-B", "ui", **b_kwargs)
        except StaleVersionError as e:
            out["b"] = e

    ta, tb = threading.Thread(target=a), threading.Thread(target=b)
    ta.start()
    assert entered.wait(20)
    tb.start()
    time.sleep(1.0)  # B reaches its read of the active version and waits behind A
    hold.set()
    ta.join(30)
    tb.join(30)
    return out["a"].version_id, out


def test_second_apply_has_the_first_as_parent(store, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    v1 = V.ensure_default_version(store)
    a_id, out = _race(store, monkeypatch, {})
    b = out["b"]
    with store.read() as s:
        row = s.get(ParamVersion, b.version_id)
        assert row is not None
        assert row.parent_id == a_id != v1.version_id
        assert len(json.loads(row.diff_json)) == 1  # only atr_smoothing differs from A (2 from the defaults)
        assert s.scalars(select(ParamVersion.id).where(ParamVersion.is_active.is_(True))).all() == [b.version_id]


def test_stale_editor_is_told_which_version_became_active(store, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    v1 = V.ensure_default_version(store)
    a_id, out = _race(store, monkeypatch, {"expected_parent": v1.version_id})
    assert isinstance(out["b"], StaleVersionError)
    assert f"version {a_id} became active" in str(out["b"])
    with store.read() as s:
        assert V.active_version_id(s) == a_id
