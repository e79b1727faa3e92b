"""The Risk page's scenario editor steps (webapp/risk_views.py, wired by pages/risk.py) on SQLite and PostgreSQL:
Save under a new name saves at once; Save under a saved name asks first (old shocks -> new shocks) and changes
nothing until Confirm; Cancel keeps the old scenario; Delete asks naming the scenario, Confirm deletes, Cancel keeps.
Every change is audited with the actor and the role of the person acting. Expectations are read straight from
the tables, not through the functions under test."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from engine.auth.principal import Principal, acting_as
from engine.store.db import Store
from engine.store.migrate import open_store
from engine.store.models import AuditEvent, Instrument, StressScenarioRow
from webapp import risk_views as views

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
ACTOR = "web:tina"
TRADER = Principal("tina", "trader", "127.0.0.1")


@pytest.fixture
def store(any_db_url: str) -> Iterator[Store]:
    opened = open_store(any_db_url, migrate=True)
    with opened.write() as s:
        s.add_all([Instrument(symbol=sym, kind="stock", has_options=False, source="test") for sym in ("ALFA", "BRVO")])
    yield opened
    opened.dispose()


def _rows(store: Store) -> dict[str, tuple[dict[str, Any], str, datetime]]:
    with store.read() as s:
        rows = s.scalars(select(StressScenarioRow).order_by(StressScenarioRow.name)).all()
        return {r.name: (dict(r.shocks), r.created_by, r.updated_at.replace(tzinfo=UTC) if r.updated_at.tzinfo is None
                         else r.updated_at) for r in rows}


def _audit(store: Store) -> list[tuple[str, str, str, str, dict[str, Any]]]:
    with store.read() as s:
        return [(e.action, e.target, e.actor, e.role, dict(e.details)) for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action.like("risk.scenario.%")).order_by(AuditEvent.id))]


def _save(store: Store, name: str, text: str, at: datetime = T0) -> views.ScenarioStep:
    with acting_as(TRADER):
        return views.ask_save(store, at, ACTOR, name, text)


@pytest.fixture
def saved(store: Store) -> Store:
    """'alfa crash' = ALFA -8%, INDEX -2.5%, saved at T0 (a new name: at once, no dialog)."""
    step = _save(store, "alfa crash", "ALFA=-8, INDEX=-2.5")
    assert step == views.ScenarioStep("saved 'alfa crash' (2 shocks); the risk cycle applies it within seconds",
                                      changed=True)
    return store


def test_a_new_name_saves_at_once_and_is_audited(saved: Store) -> None:
    assert _rows(saved) == {"alfa crash": ({"ALFA": -0.08, "INDEX": -0.025}, ACTOR, T0)}
    assert _audit(saved) == [("risk.scenario.save", "alfa crash", ACTOR, "trader",
                              {"shocks": {"ALFA": -0.08, "INDEX": -0.025}})]


def test_saving_over_a_name_asks_first_and_changes_nothing(saved: Store) -> None:
    step = _save(saved, "  alfa crash ", "BRVO=+5%; ALFA=-12.5", T0 + timedelta(minutes=1))
    assert step.dialog == "replace" and step.message is None and not step.changed
    assert step.body == ("Replace the saved scenario 'alfa crash'? Its shocks ALFA=-8%, INDEX=-2.5% "
                         "→ BRVO=+5%, ALFA=-12.5%")
    assert step.pending == {"action": "replace", "name": "alfa crash", "before": {"ALFA": -0.08, "INDEX": -0.025},
                            "shocks": {"BRVO": 0.05, "ALFA": -0.125}}
    assert _rows(saved) == {"alfa crash": ({"ALFA": -0.08, "INDEX": -0.025}, ACTOR, T0)}
    assert len(_audit(saved)) == 1  # only the first save


def test_confirm_replaces_and_audits_the_old_and_new_shocks(saved: Store) -> None:
    ask = _save(saved, "alfa crash", "BRVO=5, ALFA=-12.5")
    later = T0 + timedelta(minutes=2)
    with acting_as(Principal("rob", "trader", "10.0.0.2")):
        done = views.confirm_change(saved, later, "web:rob", "replace", ask.pending)
    assert done == views.ScenarioStep("saved 'alfa crash' (2 shocks); the risk cycle applies it within seconds "
                                      "(replaced ALFA=-8%, INDEX=-2.5%)", changed=True)
    assert done.dialog is None and done.pending is None  # the dialog closes, nothing left pending
    assert _rows(saved) == {"alfa crash": ({"BRVO": 0.05, "ALFA": -0.125}, "web:rob", later)}
    assert _audit(saved)[1:] == [("risk.scenario.save", "alfa crash", "web:rob", "trader",
                                  {"shocks": {"BRVO": 0.05, "ALFA": -0.125},
                                   "before": {"ALFA": -0.08, "INDEX": -0.025}})]
    # a second Confirm (double click) has nothing pending: no change, no audit
    assert views.confirm_change(saved, later, "web:rob", "replace", None) == views.ScenarioStep(None)
    assert len(_audit(saved)) == 2


def test_cancel_keeps_the_old_scenario(saved: Store) -> None:
    ask = _save(saved, "alfa crash", "ALFA=-30")
    assert views.cancel_change("replace", ask.pending) == views.ScenarioStep(
        "nothing replaced: 'alfa crash' is kept as it was")
    assert _rows(saved) == {"alfa crash": ({"ALFA": -0.08, "INDEX": -0.025}, ACTOR, T0)}
    assert len(_audit(saved)) == 1


def test_confirm_refuses_when_the_scenario_changed_since_the_dialog_opened(saved: Store) -> None:
    ask = _save(saved, "alfa crash", "ALFA=-30")
    with saved.write() as s:  # another trader changed it meanwhile
        s.scalars(select(StressScenarioRow)).one().shocks = {"BRVO": -0.01}
    step = views.confirm_change(saved, T0, ACTOR, "replace", ask.pending)
    assert step.error and step.message == ("not replaced: 'alfa crash' changed since the dialog opened (it is now "
                                           "BRVO=-1%); check it and press Save or Delete again")
    assert _rows(saved)["alfa crash"][0] == {"BRVO": -0.01}
    assert len(_audit(saved)) == 1


def test_delete_asks_naming_the_scenario_then_confirm_deletes(saved: Store) -> None:
    ask = views.ask_delete(saved, " alfa crash ")
    assert ask.dialog == "remove" and ask.message is None and not ask.changed
    assert ask.body == "Delete the saved scenario 'alfa crash' (ALFA=-8%, INDEX=-2.5%)?"
    assert ask.pending == {"action": "remove", "name": "alfa crash", "before": {"ALFA": -0.08, "INDEX": -0.025}}
    assert set(_rows(saved)) == {"alfa crash"}  # asking deletes nothing
    # the replace dialog's Confirm does not run a pending delete
    assert views.confirm_change(saved, T0, ACTOR, "replace", ask.pending) == views.ScenarioStep(None)
    later = T0 + timedelta(hours=1)
    with acting_as(TRADER):
        done = views.confirm_change(saved, later, ACTOR, "remove", ask.pending)
    assert done == views.ScenarioStep("deleted 'alfa crash'", changed=True)
    assert _rows(saved) == {}
    assert _audit(saved)[1:] == [("risk.scenario.delete", "alfa crash", ACTOR, "trader",
                                  {"shocks": {"ALFA": -0.08, "INDEX": -0.025}})]


def test_delete_cancel_keeps_the_scenario(saved: Store) -> None:
    ask = views.ask_delete(saved, "alfa crash")
    assert views.cancel_change("remove", ask.pending) == views.ScenarioStep(
        "nothing deleted: 'alfa crash' is kept as it was")
    assert set(_rows(saved)) == {"alfa crash"}
    assert len(_audit(saved)) == 1


def test_delete_without_a_name_or_of_an_unknown_name_answers_at_once(saved: Store) -> None:
    assert views.ask_delete(saved, "  ") == views.ScenarioStep("type the name of the scenario to delete", error=True)
    assert views.ask_delete(saved, "nope") == views.ScenarioStep("no scenario named 'nope'")
    assert set(_rows(saved)) == {"alfa crash"} and len(_audit(saved)) == 1


@pytest.mark.parametrize(("name", "text", "message"), [
    ("oops", "ALFA=-5, BRVO minus 3", "shock 2 ('BRVO minus 3') is not SYMBOL_OR_GROUP=PERCENT, e.g. ALFA=-8"),
    ("oops", "ALFA=-150", "scenario 'oops': shock -150.00% for ALFA is outside -100%..+1000%"),
    ("alfa crash", "ZZZZ=-5", "scenario 'alfa crash': unknown symbol or group 'ZZZZ'"),  # asked before the dialog
    ("Gap at the open", "ALFA=-5", "'Gap at the open' is a built-in scenario's name; choose another"),
])
def test_bad_input_keeps_its_message_and_opens_no_dialog(saved: Store, name: str, text: str, message: str) -> None:
    step = _save(saved, name, text)
    assert step.error and step.dialog is None and step.pending is None and not step.changed
    assert step.message is not None and step.message.startswith(message)
    assert _rows(saved) == {"alfa crash": ({"ALFA": -0.08, "INDEX": -0.025}, ACTOR, T0)}


def test_forged_pending_changes_nothing(saved: Store) -> None:
    for pending in ({"action": "replace", "name": "alfa crash", "before": {"ALFA": "x"}, "shocks": {"ALFA": -0.5}},
                    {"action": "replace", "name": "alfa crash", "before": {"ALFA": -0.08, "INDEX": -0.025},
                     "shocks": [1]}):
        step = views.confirm_change(saved, T0, ACTOR, "replace", pending)
        assert step == views.ScenarioStep("the dialog is out of date; press Save or Delete again", error=True)
    bad_value = {"action": "replace", "name": "alfa crash", "before": {"ALFA": -0.08, "INDEX": -0.025},
                 "shocks": {"ALFA": -5.0}}  # -500%: the store refuses it as it refuses typed text
    step = views.confirm_change(saved, T0, ACTOR, "replace", bad_value)
    assert step.error and step.message == "scenario 'alfa crash': shock -500.00% for ALFA is outside -100%..+1000%"
    assert _rows(saved) == {"alfa crash": ({"ALFA": -0.08, "INDEX": -0.025}, ACTOR, T0)}
    assert len(_audit(saved)) == 1


def test_shocks_text_reads_like_the_editor() -> None:
    assert views.shocks_text({"ALFA": -0.08, "growth": 0.025, "INDEX": -0.1}) == "ALFA=-8%, growth=+2.5%, INDEX=-10%"
    assert views.shocks_text({}) == "no shocks"
