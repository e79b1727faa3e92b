"""Parameter versions on a real store (SQLite, and PostgreSQL when available): apply, diff, rollback, audit."""
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine import audit
from engine.clock import ManualClock
from engine.params import ParamsError, ParamSet, StaleVersionError, VersionNotFoundError, default_params
from engine.params.version_rollback import rollback
from engine.params.versions import (
    active_params,
    active_version_id,
    apply_version,
    diff_versions,
    ensure_default_version,
    get_version,
    list_versions,
    record_export,
)
from engine.store.models import ParamVersion


def _atr(**changes) -> ParamSet:
    c = default_params().to_canonical()
    c["sheets"]["ATRIndicatorsConfig"]["main"].update(changes)
    return ParamSet.from_canonical(c)


def test_fresh_store_reads_defaults_then_default_version(store):
    with store.read() as s:
        ps = active_params(s)
        assert ps.version_id is None and ps == default_params()
    clock = ManualClock()
    v1 = ensure_default_version(store, clock=clock)
    assert v1.version_id is not None
    assert ensure_default_version(store, clock=clock).version_id == v1.version_id  # idempotent
    with store.read() as s:
        assert active_params(s).version_id == v1.version_id
        [info] = list_versions(s)
        assert info.source == "default" and info.is_active and info.changes == 0


def test_apply_diff_rollback_and_audit(store):
    clock = ManualClock()
    v1 = ensure_default_version(store, clock=clock)
    clock.advance(timedelta(minutes=1))
    v2 = apply_version(store, _atr(atr_period=20, atr_smoothing="SMA"), "alice", "upload", "wider ATR",
                       clock=clock)
    assert v2.version_id != v1.version_id
    with store.read() as s:
        assert active_version_id(s) == v2.version_id
        assert active_params(s).sheet("ATRIndicatorsConfig").atr_period == 20
        changes = diff_versions(s, v1.version_id, v2.version_id)
        assert {(c.sheet, c.cell, c.old, c.new) for c in changes} == {
            ("ATRIndicatorsConfig", "B2", 14, 20), ("ATRIndicatorsConfig", "B3", "EMA", "SMA")}
        infos = list_versions(s)
        assert [i.id for i in infos] == [v2.version_id, v1.version_id]
        assert infos[0].changes == 2 and infos[0].author == "alice" and infos[0].parent_id == v1.version_id
        assert sum(1 for r in s.scalars(select(ParamVersion)) if r.is_active) == 1
    v3 = rollback(store, v1.version_id, "bob", "too noisy", clock=clock)
    assert v3.version_id not in (v1.version_id, v2.version_id)
    assert v3.content_hash == v1.content_hash
    with store.read() as s:
        assert active_params(s).sheet("ATRIndicatorsConfig").atr_period == 14
        assert get_version(s, v2.version_id).sheet("ATRIndicatorsConfig").atr_period == 20  # history kept
        row = s.get(ParamVersion, v3.version_id)
        assert row.source == "rollback" and "rollback to version" in row.note
    record_export(store, "carol", v2.version_id, "v2.xlsx", clock=clock)
    with store.read() as s:
        events = audit.recent(s, action_prefix="params.")
        got = [(e.action, e.actor, e.target) for e in reversed(events)]
    assert got == [("params.apply", "system", f"param_version:{v1.version_id}"),
                   ("params.apply", "alice", f"param_version:{v2.version_id}"),
                   ("params.rollback", "bob", f"param_version:{v3.version_id}"),
                   ("params.export", "carol", f"param_version:{v2.version_id}")]


def test_identical_apply_creates_no_version(store):
    v1 = ensure_default_version(store)
    again = apply_version(store, default_params(), "alice", "ui", "no-op")
    assert again.version_id == v1.version_id
    with store.read() as s:
        assert len(list_versions(s)) == 1
        assert audit.recent(s, action_prefix="params.")[0].outcome == "unchanged"


def test_errors_are_domain_errors(store):
    with store.read() as s, pytest.raises(VersionNotFoundError, match="does not exist"):
        get_version(s, 999)
    with pytest.raises(ParamsError, match="unknown version source"):
        apply_version(store, default_params(), "x", "email")
    with store.read() as s:
        assert list_versions(s) == []  # the refused apply stored nothing


def test_table_row_changes_are_diffed_by_key(store):
    c = default_params().to_canonical()
    rows = c["sheets"]["RegimeParameters"]["main"]
    rows[0]["entry_threshold"] = 0.41
    c["sheets"]["TransitionRules"]["main"].pop()  # remove rule 25
    v1 = ensure_default_version(store)
    v2 = apply_version(store, ParamSet.from_canonical(c), "alice", "ui")
    with store.read() as s:
        changes = {c.field: c for c in diff_versions(s, v1.version_id, v2.version_id)}
    assert changes["main[Neutral_Low_Vol].entry_threshold"].cell == "F2"
    assert changes["main[25]"].new is None


def test_an_invalid_set_is_refused_and_audited(store):
    from engine.params.paramset import ParamSet as PS

    good = default_params()
    values = {k: dict(v) for k, v in good._values.items()}  # bypass validation, as a buggy caller might
    values["ATRIndicatorsConfig"]["main"] = dict(values["ATRIndicatorsConfig"]["main"], atr_period=99)
    bad = PS(values, good.schema)
    with pytest.raises(ParamsError, match="ATRIndicatorsConfig!B2"):
        apply_version(store, bad, "mallory", "ui")
    with store.read() as s:
        assert list_versions(s) == []
        ev = audit.recent(s, action_prefix="params.")[0]
        assert (ev.actor, ev.outcome) == ("mallory", "refused")


def test_an_apply_based_on_a_stale_version_is_refused_and_audited(store):
    v1 = ensure_default_version(store)
    v2 = apply_version(store, _atr(atr_period=20), "alice", "ui", expected_parent=v1.version_id)
    with pytest.raises(StaleVersionError, match=f"version {v2.version_id} became active"):
        apply_version(store, _atr(atr_period=9), "bob", "ui", "made on v1", expected_parent=v1.version_id)
    with store.read() as s:
        assert active_version_id(s) == v2.version_id and len(list_versions(s)) == 2
        ev = audit.recent(s, action_prefix="params.")[0]
        assert (ev.actor, ev.outcome) == ("bob", "refused")


def test_concurrent_applies_on_the_same_parent_let_exactly_one_through(store):
    """Two editors press Apply at once on the same version: one wins, the other is told; never both."""
    v1 = ensure_default_version(store)
    barrier = threading.Barrier(4)

    def edit(period: int) -> str:
        barrier.wait()
        try:
            apply_version(store, _atr(atr_period=period), f"user{period}", "ui", expected_parent=v1.version_id)
            return "applied"
        except StaleVersionError:
            return "stale"

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(edit, [9, 10, 11, 12]))
    assert outcomes == ["applied", "stale", "stale", "stale"]
    with store.read() as s:
        assert len(list_versions(s)) == 2
        assert s.scalar(select(func.count()).select_from(ParamVersion).where(ParamVersion.is_active.is_(True))) == 1
