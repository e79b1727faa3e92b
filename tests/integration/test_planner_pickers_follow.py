"""Planner page: after a user preset is saved, renamed or deleted, the comparison's two pickers and the regime →
preset table's pickers get the new list of presets without a reload; a picker on the renamed preset follows it to
its new name, one on the deleted preset is cleared with a note (webapp/planner_pickers.py, fed by the "presets
changed" store that webapp/planner_preset_callbacks.py writes). On SQLite and PostgreSQL; the last test goes
through HTTP like the browser: the write callback's response carries the event the picker callbacks then read.

Expected options and notes are written out by hand: the three built-ins in their order, then user presets
marked "(user)" (webapp/planner_views.preset_options)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from dash import no_update

from engine.clock import ManualClock
from engine.planner import preset_store
from tests import web_requests as wr
from tests.auth_helpers import login_client
from tests.planner_page_fixtures import NOW, trader_request
from webapp import planner_ids as ids

BUILT_INS = [{"label": "default", "value": "default"}, {"label": "conservative", "value": "conservative"},
             {"label": "aggressive", "value": "aggressive"}]
DEFAULT_SLIDERS = [0.5, 0.4, 0.5, 0.5, 0.5, 0.5]  # config/planner/default.toml, in engine.planner.sliders order
SLIDER_NAMES = ["risk_appetite", "hold_duration", "entry_style", "position_spread", "profit_taking",
                "regime_sensitivity"]  # engine.planner.sliders order
REGIMES = ["Bearish_High_Vol", "Bullish_Low_Vol", "Neutral"]


@pytest.fixture()
def page(any_db_url: str) -> Iterator[tuple[Any, Any]]:
    """(app, context) in the app's request context for the trader "tess", once on SQLite, once on PostgreSQL."""
    with trader_request(any_db_url, ManualClock(NOW)) as page:
        yield page


def save(ctx: Any, name: str) -> None:
    preset_store.save_user_preset(ctx.store, NOW, "web:tess", name, "default", {"risk_appetite": 0.7}, {})


def regime_ids(*names: str) -> list[dict[str, str]]:
    return [{"type": ids.REGIME, "name": n} for n in names]


# ---- the functions behind the two callbacks -------------------------------------------------------------------
def test_a_rename_moves_the_pickers_that_were_on_it_and_lists_the_new_name(page) -> None:  # type: ignore[no-untyped-def]
    from webapp.planner_pickers import compare_outputs, regime_outputs

    _app, ctx = page
    save(ctx, "my book")
    save(ctx, "zeta")
    preset_store.rename_user_preset(ctx.store, NOW, "web:tess", "my book", "calm book")
    event = {"n": 3, "old": "my book", "new": "calm book"}
    options = [*BUILT_INS, {"label": "calm book (user)", "value": "calm book"},
               {"label": "zeta (user)", "value": "zeta"}]

    a_options, a, b_options, b, note = compare_outputs(event, "my book", "zeta")
    assert a_options == options and b_options == options
    assert a == "calm book" and b is no_update  # the left followed the rename, the right stays on zeta
    assert str(note) == str(_note(["Left: 'my book' was renamed to 'calm book'; the picker follows it."]))

    all_options, values, note = regime_outputs(event, regime_ids(*REGIMES), ["default", "my book", "zeta"])
    assert all_options == [options] * 3
    assert values == [no_update, "calm book", no_update]
    assert str(note) == str(_note(["Bullish_Low_Vol: 'my book' was renamed to 'calm book'; the picker follows it."]))

    # nobody on the renamed preset: options only, no value moves, an earlier note goes
    assert compare_outputs(event, "default", "zeta") == (options, no_update, options, no_update, "")


def test_a_delete_clears_the_pickers_that_were_on_it_with_a_note(page) -> None:  # type: ignore[no-untyped-def]
    from webapp.planner_pickers import compare_outputs, regime_outputs

    _app, ctx = page
    save(ctx, "calm book")
    preset_store.delete_user_preset(ctx.store, NOW, "web:tess", "calm book")
    event = {"n": 7, "old": "calm book", "new": None}

    a_options, a, b_options, b, note = compare_outputs(event, "aggressive", "calm book")
    assert a_options == BUILT_INS and b_options == BUILT_INS
    assert a is no_update and b is None
    assert str(note) == str(_note(["Right: 'calm book' was deleted; the picker is cleared, pick another preset."]))

    all_options, values, note = regime_outputs(event, regime_ids(*REGIMES), ["calm book", "default", "calm book"])
    assert all_options == [BUILT_INS] * 3 and values == [None, no_update, None]
    assert str(note) == str(_note([
        "Bearish_High_Vol: 'calm book' was deleted; the picker is cleared, pick another preset.",
        "Neutral: 'calm book' was deleted; the picker is cleared, pick another preset."]))


def test_a_save_adds_the_new_preset_and_a_stale_pick_is_cleared(page) -> None:  # type: ignore[no-untyped-def]
    from webapp.planner_pickers import compare_outputs

    _app, ctx = page
    save(ctx, "fresh")
    options = [*BUILT_INS, {"label": "fresh (user)", "value": "fresh"}]
    # "gone" was removed elsewhere (another tab): not this event's preset, but no longer one, so not kept
    _a_options, a, _b_options, b, note = compare_outputs({"n": 1, "old": None, "new": "fresh"}, "gone", "default")
    assert _a_options == options and a is None and b is no_update
    assert str(note) == str(_note(["Left: 'gone' is no longer a preset; the picker is cleared, pick another preset."]))


@pytest.mark.parametrize("event", [None, "x", {"old": "a", "new": "b"}, {"n": 1, "old": 3, "new": None},
                                   {"n": 1, "old": None, "new": ["b"]}, [1, "a", "b"]])
def test_a_malformed_event_changes_no_picker(page, event: object) -> None:  # type: ignore[no-untyped-def]
    from webapp.planner_pickers import compare_outputs, regime_outputs

    assert compare_outputs(event, "default", "aggressive") == (no_update,) * 5
    assert regime_outputs(event, regime_ids("Neutral"), ["default"]) == (no_update,) * 3
    # rows and values of different lengths (a hand-made request) are refused too
    assert regime_outputs({"n": 1, "old": None, "new": None}, regime_ids("Neutral"), []) == (no_update,) * 3


# ---- over HTTP, like the browser ---------------------------------------------------------------------------
def _note(lines: list[str]) -> Any:
    from dash import html

    return html.Div([html.Div(line) for line in lines], className="small text-warning")


def _body(dep: dict[str, Any], values: dict[str, Any], trigger: str, rows: int = 0) -> dict[str, Any]:
    """A callback request: `values` by "id.prop" (dict ids as the dependency names them), wildcard outputs made
    concrete for `rows` regime rows (the browser sends one entry per matching component)."""
    specs = dep["inputs"] + dep["state"]
    by_position = {i: values[f"{s['id']}.{s['property']}"] for i, s in enumerate(specs)
                   if f"{s['id']}.{s['property']}" in values}
    changed = next(i for i, s in enumerate(dep["inputs"]) if f"{s['id']}.{s['property']}" == trigger)
    body = wr.build_body(dep, by_position, changed)
    if isinstance(body["outputs"], list):
        pairs = wr.split_outputs(dep["output"])
        body["outputs"] = [[{"id": {"type": ids.REGIME, "name": r}, "property": prop.split("@")[0]}
                            for r in REGIMES[:rows]] if entry == [] else entry
                           for entry, (_ident, prop) in zip(body["outputs"], pairs, strict=True)]
    return body


def _post(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(wr.CALLBACK_URL, json=body)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return dict(response.get_json()["response"])


def _pattern(dep: dict[str, Any], prop: str) -> str:
    """The dependency's name for the regime pickers' wildcard id (its JSON spelling) with `prop`."""
    return next(f"{s['id']}.{prop}" for s in dep["state"] if ids.REGIME in str(s["id"]) and s["property"] == prop)


def test_rename_and_delete_over_http_refresh_the_other_pickers(page) -> None:  # type: ignore[no-untyped-def]
    app, _ctx = page
    trader = login_client(app, "trader")
    deps = wr.dependencies(trader)
    write = wr.find(deps, f"{ids.PRESETS_CHANGED}.data")  # the one callback that writes the event
    assert {i["id"] for i in write["inputs"]} == {ids.SAVE, ids.RENAME, ids.DELETE_CONFIRM}
    compare = wr.find(deps, f"{ids.COMPARE_NOTE}.children")
    regime = wr.find(deps, f"{ids.REGIME_NOTE}.children")
    assert compare["inputs"] == regime["inputs"] == [{"id": ids.PRESETS_CHANGED, "property": "data"},
                                                     {"id": ids.TABS, "property": "active_tab"}]
    slider = next(f"{s['id']}.value" for s in write["state"] if ids.SLIDER in str(s["id"]))
    switch_ids = next(f"{s['id']}.id" for s in write["state"] if ids.SWITCH in str(s["id"]) and s["property"] == "id")
    switches = next(f"{s['id']}.value" for s in write["state"]
                    if ids.SWITCH in str(s["id"]) and s["property"] == "value")
    common = {slider: wr.Matches(({"name": n}, v) for n, v in zip(SLIDER_NAMES, DEFAULT_SLIDERS, strict=True)),
              switch_ids: wr.Matches(), switches: wr.Matches(), f"{ids.PRESET}.value": "default"}

    def written(trigger: str, values: dict[str, Any]) -> dict[str, Any]:
        return _post(trader, _body(write, {**common, **values, trigger: 1}, trigger))

    def pickers(event: object, a: str, b: str, rows: list[str],
                trigger: str = f"{ids.PRESETS_CHANGED}.data") -> tuple[dict[str, Any], dict[str, Any]]:
        shown = {f"{ids.PRESETS_CHANGED}.data": event, f"{ids.TABS}.active_tab": "regime",
                 f"{ids.COMPARE_A}.value": a, f"{ids.COMPARE_B}.value": b,
                 _pattern(regime, "id"): wr.Matches(({"name": r}, {"type": ids.REGIME, "name": r})
                                                    for r in REGIMES[:len(rows)]),
                 _pattern(regime, "value"): wr.Matches(({"name": r}, v)
                                                       for r, v in zip(REGIMES[:len(rows)], rows, strict=True))}
        return (_post(trader, _body(compare, shown, trigger)),
                _post(trader, _body(regime, shown, trigger, rows=len(rows))))

    saved = written(f"{ids.SAVE}.n_clicks", {f"{ids.SAVE_NAME}.value": "my book"})
    first = saved[ids.PRESETS_CHANGED]["data"]
    assert first == {"n": 1, "old": None, "new": "my book"}
    with_mine = [*BUILT_INS, {"label": "my book (user)", "value": "my book"}]
    left_right, rows = pickers(first, "conservative", "aggressive", ["default", "default"])
    assert left_right[ids.COMPARE_A] == {"options": with_mine}  # options only: no value moves
    assert left_right[ids.COMPARE_B] == {"options": with_mine}
    assert left_right[ids.COMPARE_NOTE] == {"children": ""}
    row_key = json.dumps({"name": REGIMES[0], "type": ids.REGIME}, separators=(",", ":"))
    assert rows[row_key] == {"options": with_mine}

    renamed = written(f"{ids.RENAME}.n_clicks", {f"{ids.VERSIONS_NAME}.value": "my book",
                                                f"{ids.RENAME_NAME}.value": "calm book",
                                                f"{ids.PRESETS_CHANGED}.data": first})
    second = renamed[ids.PRESETS_CHANGED]["data"]
    assert second == {"n": 2, "old": "my book", "new": "calm book"}
    with_calm = [*BUILT_INS, {"label": "calm book (user)", "value": "calm book"}]
    left_right, rows = pickers(second, "my book", "aggressive", ["my book", "default"])
    assert left_right[ids.COMPARE_A] == {"options": with_calm, "value": "calm book"}
    assert left_right[ids.COMPARE_B] == {"options": with_calm}
    assert "Left: 'my book' was renamed to 'calm book'" in json.dumps(left_right[ids.COMPARE_NOTE])
    assert rows[row_key] == {"options": with_calm, "value": "calm book"}
    other_row = json.dumps({"name": REGIMES[1], "type": ids.REGIME}, separators=(",", ":"))
    assert rows[other_row] == {"options": with_calm}
    assert "Bearish_High_Vol: 'my book' was renamed to 'calm book'" in json.dumps(rows[ids.REGIME_NOTE])

    deleted = written(f"{ids.DELETE_CONFIRM}.n_clicks", {f"{ids.VERSIONS_NAME}.value": "calm book",
                                                         f"{ids.PRESETS_CHANGED}.data": second})
    third = deleted[ids.PRESETS_CHANGED]["data"]
    assert third == {"n": 3, "old": "calm book", "new": None}
    left_right, rows = pickers(third, "default", "calm book", ["calm book"])
    assert left_right[ids.COMPARE_A] == {"options": BUILT_INS}
    assert left_right[ids.COMPARE_B] == {"options": BUILT_INS, "value": None}
    assert "Right: 'calm book' was deleted; the picker is cleared" in json.dumps(left_right[ids.COMPARE_NOTE])
    assert rows[row_key] == {"options": BUILT_INS, "value": None}

    # a refused rename (a built-in's name) writes no event: the other pickers are not woken
    refused = written(f"{ids.RENAME}.n_clicks", {f"{ids.VERSIONS_NAME}.value": "default",
                                                f"{ids.RENAME_NAME}.value": "x", f"{ids.PRESETS_CHANGED}.data": third})
    assert ids.PRESETS_CHANGED not in refused and "Not renamed" in json.dumps(refused[ids.MANAGE_MESSAGE])


def _picker_callbacks(app: Any) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(a logged-in trader's client, the comparison pickers' callback, the regime table pickers' callback)."""
    trader = login_client(app, "trader")
    deps = wr.dependencies(trader)
    return trader, wr.find(deps, f"{ids.COMPARE_NOTE}.children"), wr.find(deps, f"{ids.REGIME_NOTE}.children")


def _tab_switch(regime: dict[str, Any], a: str, b: str, row: str) -> dict[str, Any]:
    """The states of a tab switch with no "presets changed" event: the comparison on a and b, one regime row on row."""
    return {f"{ids.PRESETS_CHANGED}.data": None, f"{ids.TABS}.active_tab": "regime", f"{ids.COMPARE_A}.value": a,
            f"{ids.COMPARE_B}.value": b,
            _pattern(regime, "id"): wr.Matches([({"name": REGIMES[0]}, {"type": ids.REGIME, "name": REGIMES[0]})]),
            _pattern(regime, "value"): wr.Matches([({"name": REGIMES[0]}, row)])}


def test_a_tab_switch_reads_presets_changed_in_another_tab(page) -> None:  # type: ignore[no-untyped-def]
    """Another browser tab saves one preset and deletes another: this page got no event, and its pickers catch up
    when the trader switches tabs (a pick on the deleted preset is cleared with a note; nothing gone: no note)."""
    app, ctx = page
    trader, compare, regime = _picker_callbacks(app)
    save(ctx, "old book")
    save(ctx, "new book")  # both saved elsewhere; then "old book" is deleted elsewhere too
    preset_store.delete_user_preset(ctx.store, NOW, "web:tess", "old book")
    tab = f"{ids.TABS}.active_tab"
    shown = _tab_switch(regime, "old book", "default", "default")
    with_new = [*BUILT_INS, {"label": "new book (user)", "value": "new book"}]
    left_right = _post(trader, _body(compare, shown, tab))
    assert left_right[ids.COMPARE_A] == {"options": with_new, "value": None}
    assert left_right[ids.COMPARE_B] == {"options": with_new}
    assert "Left: 'old book' is no longer a preset; the picker is cleared" in json.dumps(left_right[ids.COMPARE_NOTE])
    rows = _post(trader, _body(regime, shown, tab, rows=1))
    row_key = json.dumps({"name": REGIMES[0], "type": ids.REGIME}, separators=(",", ":"))
    assert rows[row_key] == {"options": with_new}
    assert ids.REGIME_NOTE not in rows  # nothing of this table was gone: its note is left as it was


def test_a_tab_switch_follows_a_rename_made_in_another_tab(page) -> None:  # type: ignore[no-untyped-def]
    """Another tab renamed "my book" to "calm book" and then to "calm book 2", and renamed "zeta" to "eta" and then
    deleted "eta": this page's pick on "my book" follows both renames (the store's rename trail), the pick on
    "zeta" is cleared (its preset is gone), each with a note."""
    app, ctx = page
    trader, compare, regime = _picker_callbacks(app)
    save(ctx, "my book")
    save(ctx, "zeta")
    preset_store.rename_user_preset(ctx.store, NOW, "web:rita", "my book", "calm book")
    preset_store.rename_user_preset(ctx.store, NOW, "web:rita", "calm book", "calm book 2")
    preset_store.rename_user_preset(ctx.store, NOW, "web:rita", "zeta", "eta")
    preset_store.delete_user_preset(ctx.store, NOW, "web:rita", "eta")
    tab = f"{ids.TABS}.active_tab"
    shown = _tab_switch(regime, "my book", "zeta", "my book")
    options = [*BUILT_INS, {"label": "calm book 2 (user)", "value": "calm book 2"}]
    left_right = _post(trader, _body(compare, shown, tab))
    assert left_right[ids.COMPARE_A] == {"options": options, "value": "calm book 2"}
    assert left_right[ids.COMPARE_B] == {"options": options, "value": None}
    note = json.dumps(left_right[ids.COMPARE_NOTE])
    assert "Left: 'my book' was renamed to 'calm book 2' elsewhere; the picker follows it." in note
    assert "Right: 'zeta' is no longer a preset; the picker is cleared" in note
    rows = _post(trader, _body(regime, shown, tab, rows=1))
    row_key = json.dumps({"name": REGIMES[0], "type": ids.REGIME}, separators=(",", ":"))
    assert rows[row_key] == {"options": options, "value": "calm book 2"}


def test_the_rename_trail_ignores_deletes_and_names_that_were_never_presets(page) -> None:  # type: ignore[no-untyped-def]
    from engine.planner.preset_renames import renamed_to

    _app, ctx = page
    save(ctx, "a")
    save(ctx, "gone")
    preset_store.rename_user_preset(ctx.store, NOW, "web:tess", "a", "b")
    preset_store.delete_user_preset(ctx.store, NOW, "web:tess", "gone")
    with ctx.store.read() as session:
        live = frozenset(preset_store.list_presets(session))
        assert renamed_to(session, "a", live) == "b"
        assert renamed_to(session, "gone", live) is None  # deleted, not renamed
        assert renamed_to(session, "never", live) is None
        assert renamed_to(session, "a", frozenset({"default"})) is None  # "b" is gone too: nothing to follow
