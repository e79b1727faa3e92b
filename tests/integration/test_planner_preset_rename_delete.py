"""Renaming and deleting user presets in the store, on SQLite and PostgreSQL (engine/planner/preset_store.py).

Both are audited with the acting user, both keep history (a delete adds a deletion marker version; a rename copies
the versions under the new name and marks the old one), and both are refused for a preset the regime -> preset
table uses, a built-in, or (rename) an invalid or taken name. Expected slider effects come from the mapping's
documented end points (engine/planner/sliders.py): risk_appetite moves scoring.risk_weight from 3.0 at 0 to 0.3
at 1, so 0.2 gives 3.0 - 0.2 * 2.7 = 2.46 and 0.9 gives 3.0 - 0.9 * 2.7 = 0.57."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from engine.planner.api import PlanResult, PresetError
from engine.planner.plan_store import recent_plans, store_plan
from engine.planner.preset_store import (
    delete_user_preset,
    list_presets,
    preset_versions,
    rename_user_preset,
    restore_preset_version,
    save_user_preset,
    set_regime_preset_table,
)
from engine.store.db import Store
from engine.store.models import AuditEvent, PlannerPresetVersion

T0 = datetime(2026, 3, 2, 15, 0, 0, tzinfo=UTC)
BUILT_INS = {"default", "conservative", "aggressive"}


def audits(store: Store, action: str) -> list[tuple[str, str, dict[str, object]]]:
    with store.read() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
        return [(r.actor, r.target, dict(r.details)) for r in rows]


def row_count(store: Store) -> int:
    with store.read() as session:
        return len(list(session.scalars(select(PlannerPresetVersion))))


def two_versions(store: Store, name: str) -> None:
    save_user_preset(store, T0, "alice", name, "default", {"risk_appetite": 0.2}, {})
    save_user_preset(store, T0 + timedelta(minutes=1), "bob", name, "default", {"risk_appetite": 0.9},
                     {"costs.fixed": 2.0})


def test_delete_hides_the_preset_and_keeps_its_versions_plans_and_audit(store: Store) -> None:
    two_versions(store, "mine")
    with store.write() as session:  # a stored plan made with the preset
        store_plan(session, T0, PlanResult([], {"total": 1.0}, [], 1, 1.0, "mine", "Bull", "test", {}, {}, 0.0),
                   "engine", {"risk_appetite": 0.9}, None)

    assert delete_user_preset(store, T0 + timedelta(minutes=2), "carol", "mine") == 3  # the marker is version 3

    with store.read() as session:
        presets = list_presets(session)
        versions = preset_versions(session, "mine")
        plans = recent_plans(session)
    assert set(presets) == BUILT_INS
    assert [(v.version, v.author, v.deleted) for v in versions] == [(1, "alice", False), (2, "bob", False),
                                                                     (3, "carol", True)]
    assert versions[0].sliders == {"risk_appetite": 0.2} and versions[1].overrides == {"costs.fixed": 2.0}
    assert versions[2].note == "deleted by carol"
    assert [(p.preset, p.sliders) for p in plans] == [("mine", {"risk_appetite": 0.9})]
    assert audits(store, "planner.delete_preset") == [
        ("carol", "mine", {"versions": 2, "newest_version": 2, "marker_version": 3})]
    assert [(a, t) for a, t, _ in audits(store, "planner.save_preset")] == [("alice", "mine"), ("bob", "mine")]

    with pytest.raises(PresetError, match="no user preset 'mine' to delete"):
        delete_user_preset(store, T0, "carol", "mine")
    with pytest.raises(PresetError, match="built-in"):
        delete_user_preset(store, T0, "carol", "default")
    with pytest.raises(PresetError, match="version 3 of 'mine' marks its deletion"):
        restore_preset_version(store, T0, "carol", "mine", 3)
    assert len(audits(store, "planner.delete_preset")) == 1 and row_count(store) == 3

    # restoring an old version brings the preset back, numbered after its marker
    assert restore_preset_version(store, T0 + timedelta(minutes=3), "dave", "mine", 1) == 4
    with store.read() as session:
        back = list_presets(session)["mine"]
    assert back.sliders["risk_appetite"] == 0.2 and back.params["scoring.risk_weight"] == pytest.approx(2.46)


def test_rename_moves_the_versions_and_marks_the_old_name(store: Store) -> None:
    two_versions(store, "old")

    assert rename_user_preset(store, T0 + timedelta(minutes=5), "carol", "old", "  new  ") == "new"

    with store.read() as session:
        presets = list_presets(session)
        new_versions = preset_versions(session, "new")
        old_versions = preset_versions(session, "old")
    assert set(presets) == BUILT_INS | {"new"}
    renamed = presets["new"]
    assert renamed.name == "new" and renamed.sliders["risk_appetite"] == 0.9
    assert renamed.params["scoring.risk_weight"] == pytest.approx(0.57) and renamed.params["costs.fixed"] == 2.0
    assert [(v.version, v.author, v.created_at, v.note) for v in new_versions] == [
        (1, "alice", T0, "from 'old' v1"), (2, "bob", T0 + timedelta(minutes=1), "from 'old' v2")]
    assert [(v.version, v.author, v.deleted) for v in old_versions] == [(1, "alice", False), (2, "bob", False),
                                                                        (3, "carol", True)]
    assert old_versions[2].note == "renamed to 'new' by carol"
    assert audits(store, "planner.rename_preset") == [
        ("carol", "old", {"to": "new", "versions": 2, "first_new_version": 1, "marker_version": 3})]
    # the renamed preset keeps working like any other: restore its first version
    assert restore_preset_version(store, T0 + timedelta(minutes=6), "dave", "new", 1) == 3


@pytest.mark.parametrize(("name", "new_name", "why"), [
    ("mine", "default", "'default' is a built-in preset; rename under another name"),
    ("mine", "   ", "needs a name of 1 to 64 characters"),
    ("mine", "x" * 65, "needs a name of 1 to 64 characters"),
    ("mine", "other", "a user preset named 'other' already exists"),
    ("mine", "mine", "already has that name"),
    ("nope", "fresh", "no user preset 'nope' to rename"),
    ("aggressive", "fresh", "'aggressive' is a built-in preset; it cannot be renamed"),
])
def test_rename_refusals_change_nothing(store: Store, name: str, new_name: str, why: str) -> None:
    two_versions(store, "mine")
    save_user_preset(store, T0, "alice", "other", "conservative", {}, {})
    before = row_count(store)
    with pytest.raises(PresetError) as refused:
        rename_user_preset(store, T0, "carol", name, new_name)
    assert why in str(refused.value)
    assert row_count(store) == before and audits(store, "planner.rename_preset") == []
    with store.read() as session:
        assert set(list_presets(session)) == BUILT_INS | {"mine", "other"}


def test_a_preset_the_regime_table_uses_can_be_neither_deleted_nor_renamed(store: Store) -> None:
    two_versions(store, "mine")
    set_regime_preset_table(store, T0, "alice", {"Bull": "mine", "Bear": "mine", "Side": "default"})
    before = row_count(store)
    with pytest.raises(PresetError, match=r"cannot delete 'mine': .* maps regime\(s\) Bear, Bull to it"):
        delete_user_preset(store, T0, "carol", "mine")
    with pytest.raises(PresetError, match=r"cannot rename 'mine': .* maps regime\(s\) Bear, Bull to it"):
        rename_user_preset(store, T0, "carol", "mine", "yours")
    assert row_count(store) == before
    assert audits(store, "planner.delete_preset") == [] and audits(store, "planner.rename_preset") == []
    # once the table no longer uses it, it can go
    set_regime_preset_table(store, T0, "alice", {"Bull": "aggressive", "Bear": "default", "Side": "default"})
    assert delete_user_preset(store, T0, "carol", "mine") == 3


def test_rename_onto_a_deleted_name_continues_after_its_marker(store: Store) -> None:
    save_user_preset(store, T0, "alice", "gone", "aggressive", {"risk_appetite": 1.0}, {})
    delete_user_preset(store, T0, "alice", "gone")  # gone: v1, marker v2
    two_versions(store, "live")

    assert rename_user_preset(store, T0, "bob", "live", "gone") == "gone"

    with store.read() as session:
        versions = preset_versions(session, "gone")
        presets = list_presets(session)
    assert [(v.version, v.author, v.base, v.deleted) for v in versions] == [
        (1, "alice", "aggressive", False), (2, "alice", "", True), (3, "alice", "default", False),
        (4, "bob", "default", False)]
    assert set(presets) == BUILT_INS | {"gone"} and presets["gone"].sliders["risk_appetite"] == 0.9
    assert audits(store, "planner.rename_preset")[0][2]["first_new_version"] == 3
