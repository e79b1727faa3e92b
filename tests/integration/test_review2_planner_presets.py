"""Planner > User presets: a save selects the saved preset in the versions selector, so the versions panel
shows its versions (it said "No user presets yet" while the selector stayed empty).

Runs the page's functions inside the real app on a seeded SQLite store, and checks the registered callback
writes the selector's value. Expected: the first save of "my preset" is version 1 by web:tess, the second 2."""
from __future__ import annotations

import pytest
from dash import no_update

from tests.planner_page_fixtures import trader_page

DEFAULT_SLIDERS = [0.5, 0.4, 0.5, 0.5, 0.5, 0.5]  # config/planner/default.toml, in engine.planner.sliders order


@pytest.fixture()
def page(tmp_path):  # type: ignore[no-untyped-def]
    """The app's request context for the trader "tess", on a seeded portfolio."""
    with trader_page(tmp_path) as (app, _ctx):
        yield app


def test_a_save_selects_the_saved_preset_and_its_versions_show(page) -> None:
    from webapp.planner_preset_callbacks import save_outputs
    from webapp.planner_preset_versions import versions_outputs

    message, _presets, users, selected = save_outputs(" my preset ", "default", DEFAULT_SLIDERS, [], [])
    assert "Saved 'my preset' version 1 (base default)" in str(message)
    assert selected == "my preset" and {"label": "my preset", "value": "my preset"} in users
    table, options, a, b = versions_outputs(selected)
    assert "No user presets yet" not in str(table) and "web:tess" in str(table)
    assert [o["value"] for o in options] == [1] and (a, b) == (1, 1)

    _message, _presets, _users, selected = save_outputs("my preset", "my preset", DEFAULT_SLIDERS, [], [])
    assert selected == "my preset"
    assert [o["value"] for o in versions_outputs(selected)[1]] == [1, 2] and versions_outputs(selected)[2:] == (1, 2)


def test_a_refused_save_leaves_the_selector_alone(page) -> None:
    from webapp.planner_preset_callbacks import save_outputs

    for name in ["", "default", "x" * 65, None]:
        message, presets, users, selected = save_outputs(name, "default", DEFAULT_SLIDERS, [], [])
        assert (presets, users, selected) == (no_update, no_update, no_update), name
        assert "name" in str(message), name


def test_the_save_callback_writes_the_selector_value_and_only_it_does(page) -> None:
    from tests import web_requests as wr
    from tests.auth_helpers import login_client
    from webapp import planner_ids as ids

    deps = wr.dependencies(login_client(page, "trader"))
    save = wr.find(deps, f"{ids.VERSIONS_NAME}.value")  # exactly one callback writes the selector's value
    assert f"{ids.SAVE_MESSAGE}.children" in save["output"] and save["inputs"][0]["id"] == ids.SAVE
