"""Planner page: renaming and deleting user presets (webapp/planner_preset_callbacks.py), the sliders' number boxes
(webapp/planner_callbacks.slider_box_outputs) and the score table's formatting (webapp/planner_views.py).

The page functions are called directly inside the real app for the trader "tess" (tests/planner_page_fixtures.py),
like the save tests do; one request goes through HTTP to show the rename is a trader's action. Expected texts are
written out by hand here."""
from __future__ import annotations

import pytest
from dash import no_update
from dash.exceptions import PreventUpdate
from sqlalchemy import select

from engine.planner import api, preset_store
from engine.store.models import AuditEvent
from tests.planner_page_fixtures import NOW, trader_page
from webapp import planner_ids as ids

SLIDER_NAMES = [s.name for s in api.SLIDERS]
DEFAULT_SLIDERS = [0.5, 0.4, 0.5, 0.5, 0.5, 0.5]  # config/planner/default.toml, in engine.planner.sliders order
BUILT_IN_OPTIONS = [{"label": n, "value": n} for n in ("default", "conservative", "aggressive")]


@pytest.fixture()
def page(tmp_path):
    with trader_page(tmp_path) as (app, ctx):
        yield app, ctx


def save(name: str, sliders: list[float] | None = None) -> None:
    from webapp.planner_preset_callbacks import save_outputs

    message = save_outputs(name, "default", sliders or DEFAULT_SLIDERS, [], [])[0]
    assert "Saved" in str(message), message


def actions(ctx, action: str) -> list[tuple[str, str]]:
    with ctx.store.read() as s:
        return [(e.actor, e.target) for e in s.scalars(select(AuditEvent).where(AuditEvent.action == action))]


# ---- rename ------------------------------------------------------------------------------------------------
def test_rename_refreshes_the_picker_and_the_selector_and_is_audited(page) -> None:
    from webapp.planner_preset_callbacks import rename_preset_outputs
    from webapp.planner_preset_versions import versions_outputs

    _app, ctx = page
    save("mine", [0.9, *DEFAULT_SLIDERS[1:]])
    save("mine")
    save("zeta")
    message, picker, picked, users, selected = rename_preset_outputs("mine", " alpha ", "mine")
    assert "Renamed 'mine' to 'alpha'" in str(message) and "text-success" in str(message)
    assert picker == [*BUILT_IN_OPTIONS, {"label": "alpha (user)", "value": "alpha"},
                      {"label": "zeta (user)", "value": "zeta"}]
    assert picked == "alpha"  # the picker was on the renamed preset: it follows it
    assert users == [{"label": "alpha", "value": "alpha"}, {"label": "zeta", "value": "zeta"}]
    assert selected == "alpha"
    _table, options, a, b = versions_outputs(selected)  # the versions came along: v1 and v2 by tess
    assert [o["label"] for o in options] == ["v1 by web:tess", "v2 by web:tess"] and (a, b) == (1, 2)
    assert actions(ctx, "planner.rename_preset") == [("web:tess", "mine")]
    # the picker on another preset stays where it is
    assert rename_preset_outputs("zeta", "omega", "default")[2] is no_update


@pytest.mark.parametrize(("name", "new_name", "why"), [
    ("mine", "default", "Not renamed: 'default' is a built-in preset"),
    ("mine", "", "Not renamed: the new name needs 1 to 64 characters."),
    ("mine", "y" * 65, "Not renamed: the new name needs 1 to 64 characters."),
    ("mine", None, "Not renamed: the new name needs 1 to 64 characters."),
    ("mine", "other", "Not renamed: a user preset named 'other' already exists"),
    (None, "fresh", "Pick a user preset to rename."),
    ("ghost", "fresh", "Not renamed: there is no user preset 'ghost' to rename"),
])
def test_a_refused_rename_changes_nothing_and_says_why(page, name, new_name, why) -> None:
    from webapp.planner_preset_callbacks import rename_preset_outputs

    _app, ctx = page
    save("mine")
    save("other")
    message, *rest = rename_preset_outputs(name, new_name, "mine")
    assert why in str(message) and "text-danger" in str(message)
    assert rest == [no_update] * 4
    assert actions(ctx, "planner.rename_preset") == []
    with ctx.store.read() as s:
        assert {"mine", "other"} <= set(preset_store.list_presets(s))


def test_rename_and_delete_name_the_regimes_that_use_the_preset(page) -> None:
    from webapp.planner_preset_callbacks import delete_dialog, delete_preset_outputs, rename_preset_outputs

    _app, ctx = page
    save("mine")
    preset_store.set_regime_preset_table(ctx.store, NOW, "alice", {"Bull": "mine", "Bear": "mine"})
    assert "the regime -> preset table maps regime(s) Bear, Bull to it" in str(
        rename_preset_outputs("mine", "yours", "mine")[0])
    is_open, body, disabled = delete_dialog("mine")
    assert is_open and disabled and "maps Bear, Bull to it" in str(body)
    message, *rest = delete_preset_outputs("mine", "mine")
    assert "Not deleted: cannot delete 'mine'" in str(message) and "Bear, Bull" in str(message)
    assert rest == [no_update] * 4
    with ctx.store.read() as s:
        assert "mine" in preset_store.list_presets(s)


# ---- delete ------------------------------------------------------------------------------------------------
def test_delete_asks_first_then_hides_the_preset_and_keeps_its_versions(page) -> None:
    from webapp.planner_preset_callbacks import delete_dialog, delete_preset_outputs
    from webapp.planner_preset_versions import versions_outputs

    _app, ctx = page
    save("mine")
    save("mine")
    save("zeta")
    is_open, body, disabled = delete_dialog("mine")
    assert is_open and not disabled
    assert "Delete user preset 'mine'?" in str(body) and "Its 2 version(s)" in str(body)
    assert delete_dialog(None)[2] is True and delete_dialog("default")[2] is True  # nothing to delete

    message, picker, picked, users, selected = delete_preset_outputs("mine", "mine")
    assert "Deleted 'mine'" in str(message)
    assert picker == [*BUILT_IN_OPTIONS, {"label": "zeta (user)", "value": "zeta"}]
    assert picked == "default"  # the picker was on it: back to default
    assert users == [{"label": "zeta", "value": "zeta"}] and selected == "zeta"
    assert actions(ctx, "planner.delete_preset") == [("web:tess", "mine")]
    with ctx.store.read() as s:
        versions = preset_store.preset_versions(s, "mine")
    assert [(v.version, v.deleted) for v in versions] == [(1, False), (2, False), (3, True)]
    history = str(versions_outputs("mine")[0])  # still readable; the marker row says what happened
    assert "Td(Em('deleted'))" in history and "deleted by web:tess" in history

    message, picker, picked, users, selected = delete_preset_outputs("zeta", "default")
    assert picked is no_update and users == [] and selected is None
    assert picker == BUILT_IN_OPTIONS
    assert "no user preset 'zeta' to delete" in str(delete_preset_outputs("zeta", "default")[0])


def test_the_one_write_callback_dispatches_on_its_trigger(page) -> None:
    from webapp.planner_preset_callbacks import write_outputs

    _app, ctx = page
    save("mine")

    def write(trigger: str, clicks: object, selected: str, new_name: str | None,
              shown: object = None) -> tuple[object, ...]:
        return write_outputs(trigger, {trigger: clicks}, "ignored", selected, DEFAULT_SLIDERS, [], [], None,
                             selected, new_name, shown)
    # a confirm button that appeared (0 clicks) closes the dialog and does nothing else
    assert write(ids.DELETE_CONFIRM, 0, "mine", None) == (no_update,) * 6 + (False, no_update)
    assert write(ids.RENAME, None, "mine", "x") == (no_update,) * 8
    renamed = write(ids.RENAME, 1, "mine", "yours", {"n": 4, "old": None, "new": "mine"})
    assert renamed[0] is no_update and "Renamed 'mine' to 'yours'" in str(renamed[4])
    assert renamed[3] == "yours" and renamed[5] == "yours" and renamed[6] is no_update
    assert renamed[7] == {"n": 5, "old": "mine", "new": "yours"}  # the other pickers follow the rename
    refused = write(ids.RENAME, 1, "yours", "default", renamed[7])  # a refused rename changes no picker
    assert "Not renamed" in str(refused[4]) and refused[7] is no_update
    deleted = write(ids.DELETE_CONFIRM, 1, "yours", None, renamed[7])
    assert "Deleted 'yours'" in str(deleted[4]) and deleted[3] is None and deleted[5] == "default"
    assert deleted[6] is False and deleted[7] == {"n": 6, "old": "yours", "new": None}
    saved = write_outputs(ids.SAVE, {ids.SAVE: 1}, " new one ", "default", DEFAULT_SLIDERS, [], [], None, None,
                          None)
    assert "Saved 'new one' version 1" in str(saved[0]) and saved[3] == "new one"
    assert saved[4:7] == (no_update,) * 3 and saved[7] == {"n": 1, "old": None, "new": "new one"}
    refused = write_outputs(ids.SAVE, {ids.SAVE: 1}, "default", "default", DEFAULT_SLIDERS, [], [], None, None,
                            None, {"n": 1})
    assert "built-in" in str(refused[0]) and refused[7] is no_update
    # the count comes from the browser: anything but a count starts again from 1
    for shown in [None, "x", {"n": True}, {"n": -3}, {"n": "7"}, ["n", 2]]:
        again = write(ids.RENAME, 1, "new one", f"n{len(str(shown))}", shown)
        assert again[7]["n"] == 1, shown  # type: ignore[index]
        write(ids.RENAME, 1, again[3], "new one")  # type: ignore[arg-type]


def test_rename_is_a_traders_action_over_http(page) -> None:
    from tests import web_requests as wr
    from tests.auth_helpers import login_client

    app, ctx = page
    save("mine")
    dep = wr.find(wr.dependencies(login_client(app, "admin")), f"{ids.MANAGE_MESSAGE}.children", ids.RENAME)
    values = {f"{ids.RENAME}.n_clicks": 1, f"{ids.VERSIONS_NAME}.value": "mine", f"{ids.RENAME_NAME}.value": "yours",
              f"{ids.PRESET}.value": "default"}
    assert wr.call(login_client(app, "viewer"), dep, values, trigger=f"{ids.RENAME}.n_clicks").status_code == 403
    response = wr.call(login_client(app, "trader"), dep, values, trigger=f"{ids.RENAME}.n_clicks")
    assert response.status_code == 200 and "Renamed 'mine' to 'yours'" in response.get_data(as_text=True)
    assert actions(ctx, "planner.rename_preset") == [("web:trader", "mine")]


# ---- slider number boxes -----------------------------------------------------------------------------------
def box(name: str) -> dict[str, str]:
    return {"type": ids.SLIDER_BOX, "name": name}


def test_a_typed_value_outside_0_to_1_is_clamped_and_said() -> None:
    from webapp.planner_callbacks import slider_box_outputs

    sliders = list(DEFAULT_SLIDERS)
    for typed, used, text in [(1.7, 1.0, "risk appetite 1.7 is outside 0..1; used 1.0."),
                              (-0.25, 0.0, "risk appetite -0.25 is outside 0..1; used 0.0."),
                              (42, 1.0, "risk appetite 42 is outside 0..1; used 1.0.")]:
        boxes = [typed, *sliders[1:]]
        new_sliders, new_boxes, message = slider_box_outputs(box("risk_appetite"), SLIDER_NAMES, sliders, boxes)
        assert new_sliders == [used] + [no_update] * 5
        assert new_boxes == [used] + [no_update] * 5  # the box shows what was used
        assert message == text
    # the last slider, already at 1: typed 3 leaves the slider, corrects the box, and says so
    at_one = [*sliders[:5], 1.0]
    new_sliders, new_boxes, message = slider_box_outputs(box("regime_sensitivity"), SLIDER_NAMES, at_one,
                                                         [*sliders[:5], 3])
    assert new_sliders == [no_update] * 6 and new_boxes == [no_update] * 5 + [1.0]
    assert message == "regime sensitivity 3 is outside 0..1; used 1.0."


def test_a_typed_value_inside_moves_the_slider_and_a_moved_slider_fills_its_box() -> None:
    from webapp.planner_callbacks import slider_box_outputs

    sliders = list(DEFAULT_SLIDERS)
    new_sliders, new_boxes, message = slider_box_outputs(box("hold_duration"), SLIDER_NAMES, sliders,
                                                         [0.5, 0.35, 0.5, 0.5, 0.5, 0.5])
    # wildcard outputs take lists: one no_update per slider (Dash 4 refuses a bare no_update with HTTP 400)
    assert new_sliders == [no_update, 0.35, *[no_update] * 4] and new_boxes == [no_update] * 6 and message == ""
    # the box's value echoed back (the slider already there): nothing to do, a message on screen stays
    with pytest.raises(PreventUpdate):
        slider_box_outputs(box("hold_duration"), SLIDER_NAMES, sliders, sliders)
    # not a number (an emptied box): the slider stays, the box gets its position back
    new_sliders, new_boxes, message = slider_box_outputs(box("entry_style"), SLIDER_NAMES, sliders,
                                                         [0.5, 0.4, None, 0.5, 0.5, 0.5])
    assert new_sliders == [no_update] * 6 and new_boxes == [no_update, no_update, 0.5, *[no_update] * 3]
    assert message == "entry style: type a number from 0 to 1; kept 0.5."
    assert slider_box_outputs(box("entry_style"), SLIDER_NAMES, sliders, [0.5, 0.4, True, 0.5, 0.5, 0.5])[2] == \
        "entry style: type a number from 0 to 1; kept 0.5."
    # a slider moved (dragged, or a preset picked): its box follows and an old message goes
    moved = [0.8, *sliders[1:]]
    new_sliders, new_boxes, message = slider_box_outputs({"type": ids.SLIDER, "name": "risk_appetite"},
                                                         SLIDER_NAMES, moved, sliders)
    assert new_sliders == [no_update] * 6 and new_boxes == [0.8, *[no_update] * 5] and message == ""
    # nothing to do, and malformed requests: no output changes
    for trigger, now, typed in [({"type": ids.SLIDER, "name": "risk_appetite"}, moved, moved),
                                (box("nope"), sliders, sliders), (box("risk_appetite"), sliders[:5], sliders)]:
        with pytest.raises(PreventUpdate):
            slider_box_outputs(trigger, SLIDER_NAMES, now, typed)


def test_each_slider_has_a_number_box_and_no_silent_builtin_one() -> None:
    from pages.planner import slider_block

    block = str(slider_block(api.SLIDERS[0], 0.3))
    assert "allow_direct_input=False" in block
    assert "Input(id={'type': 'planner-slider-box', 'name': 'risk_appetite'}, value=0.3" in block


# ---- score table -------------------------------------------------------------------------------------------
def test_the_score_table_shows_three_significant_digits_and_percent_parts() -> None:
    from webapp.planner_views import score_table

    text = str(score_table({"return": 1.23456789, "risk": 0.000123456, "cost": 0.0, "target_distance": 12.3456,
                            "mc_cvar": -4.56789, "custom": 1234.5678, "total": -0.0456789}))
    for label, shown in [("return", "1.23%"), ("risk", "0.000123%"), ("cost", "0%"), ("target distance", "12.3%"),
                         ("mc cvar", "-4.57%"), ("custom", "1,235")]:
        assert f"Td('{label}'), Td(Span(children='{shown}', title=" in text, (label, shown)
    assert "Strong(children='-0.0457', title='-0.0456789')" in text
    assert "1.23456789" not in text.replace("title='1.23456789'", "")  # the long float only in the tooltip
