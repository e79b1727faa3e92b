"""Planner page numeric overrides: validation (the preset loader's), precedence (override > slider > base), the
preview they change, and user preset versions that keep them (save, diff, restore) on SQLite and PostgreSQL.

Expected values are worked out by hand from config/planner/default.toml and engine/planner/sliders.py's end
points: default's risk_appetite is 0.5, so sequences.max_depth = round(2 + (6 - 2) * 0.5) = 4; at 1.0 it is 6.
"""
from __future__ import annotations

import math

import pytest
from dash import no_update
from sqlalchemy import select

from engine.clock import ManualClock
from engine.planner import api
from engine.store.models import AuditEvent
from tests.planner_page_fixtures import NOW, seed_portfolio, trader_request

DEFAULT_SLIDERS = [0.5, 0.4, 0.5, 0.5, 0.5, 0.5]  # config/planner/default.toml, in engine.planner.sliders order


def _app_context(database_url: str, seeded: bool):  # type: ignore[no-untyped-def]
    seed = (lambda ctx: seed_portfolio(ctx, held=5)) if seeded else None
    with trader_request(database_url, ManualClock(NOW), seed) as (_app, ctx):
        yield ctx


@pytest.fixture()
def page(tmp_path):  # type: ignore[no-untyped-def]
    """The trader "tess" in the app's request context, on the Planner page's seeded SQLite portfolio."""
    yield from _app_context(f"sqlite:///{tmp_path}/planner.db", seeded=True)


@pytest.fixture()
def page_db(any_db_url: str):  # type: ignore[no-untyped-def]
    """The trader "tess" in the app's request context, once on SQLite and once on PostgreSQL (no portfolio)."""
    yield from _app_context(any_db_url, seeded=False)


def test_an_override_is_read_like_a_preset_file_value_and_refusals_name_key_and_range() -> None:
    from webapp.planner_overrides import EDITABLE_KEYS, add_override, checked_overrides, remove_override

    assert "costs.proportional" in EDITABLE_KEYS and "filters.eligibility.min_hold_days" in EDITABLE_KEYS
    assert "scoring.monte_carlo" not in EDITABLE_KEYS and "targets.method" not in EDITABLE_KEYS  # switch, choice
    good = add_override({}, "filters.eligibility.min_hold_days", " 5 ")
    assert good == {"filters.eligibility.min_hold_days": 5}
    good = add_override(good, "costs.proportional", "0.0005")
    assert good == {"filters.eligibility.min_hold_days": 5, "costs.proportional": 0.0005}
    assert add_override(good, "costs.fixed", "2") == {**good, "costs.fixed": 2.0}  # an int where a float belongs
    refused = [
        ("costs.proportional", "abc", "'costs.proportional' = 'abc' is not a value; allowed: float from 0 to 0.05"),
        ("costs.proportional", "nan", "'costs.proportional' = nan is not allowed; allowed: float from 0 to 0.05"),
        ("costs.proportional", "inf", "= inf is not allowed; allowed: float from 0 to 0.05"),
        ("costs.proportional", "0.06", "= 0.06 is not allowed; allowed: float from 0 to 0.05"),
        ("costs.proportional", "[0.01, 0.02]", "= [0.01, 0.02] is not allowed; allowed: float from 0 to 0.05"),
        ("costs.proportional", "true", "= True is not allowed"),
        ("costs.proportional", "", "needs one value; allowed: float from 0 to 0.05"),
        ("costs.proportional", "0.01\nscoring.seed = 1", "needs one value"),
        ("filters.eligibility.min_hold_days", "366", "= 366 is not allowed; allowed: int from 0 to 365"),
        ("filters.eligibility.min_hold_days", "5.5", "= 5.5 is not allowed; allowed: int from 0 to 365"),
        ("scoring.monte_carlo", "1", "pick a numeric parameter first"),
        (None, "1", "pick a numeric parameter first"),
    ]
    for key, text, message in refused:
        with pytest.raises(api.PresetError, match=message.replace("[", r"\[").replace("]", r"\]")):
            add_override(good, key, text)
    assert good == {"filters.eligibility.min_hold_days": 5, "costs.proportional": 0.0005}  # the last good state
    for forged, message in [({"costs.fixed": math.nan}, "'costs.fixed' = nan"), ({"costs.fixed": "1"}, "'1'"),
                            ({"calculators.trend.enabled": False}, "module switch"), ("x", "malformed"),
                            ({"nope.key": 1}, "unknown key 'nope.key'")]:
        with pytest.raises(api.PresetError, match=message):
            checked_overrides(forged)
    assert remove_override(good, "costs.proportional") == {"filters.eligibility.min_hold_days": 5}


def test_an_override_beats_the_slider_which_beats_the_base(page) -> None:  # type: ignore[no-untyped-def]
    from webapp.planner_overrides import sources
    from webapp.planner_preview import all_presets, composed_preset, root_preset

    presets = all_presets()
    base = presets["default"]
    assert base.params["sequences.max_depth"] == 4 and base.params["targets.max_weight"] == pytest.approx(0.25)
    high = [1.0, *DEFAULT_SLIDERS[1:]]  # risk_appetite 1: max_depth 6, max_weight 0.40, cash_reserve 0.0
    slid = composed_preset(presets, "default", high, None)
    assert slid.params["sequences.max_depth"] == 6 and slid.params["targets.max_weight"] == pytest.approx(0.40)
    overrides = {"sequences.max_depth": 1, "costs.proportional": 0.01}
    both = composed_preset(presets, "default", high, None, overrides)
    assert both.name == "default (tuned)"
    assert both.params["sequences.max_depth"] == 1  # the override, not the slider's 6 nor the base's 4
    assert both.params["targets.max_weight"] == pytest.approx(0.40)  # the slider (no override)
    assert both.params["costs.proportional"] == 0.01 and both.params["costs.fixed"] == 1.0  # override; base
    by = {s.key: s for s in sources(root_preset(presets, "default"), dict(zip(
        [s.name for s in api.SLIDERS], high, strict=True)), overrides, both)}
    assert (by["sequences.max_depth"].base, by["sequences.max_depth"].slider_value,
            by["sequences.max_depth"].effective) == (4, 6, 1)
    assert by["sequences.max_depth"].by == "override (beats slider risk_appetite)"
    assert by["targets.max_weight"].by == "slider risk_appetite" and by["costs.proportional"].by == "override"
    assert "scoring.cost_weight" not in by  # hold_duration stayed at the base's 0.4: nothing moved
    with pytest.raises(api.PresetError, match="'sequences.max_depth' = 0 is not allowed; allowed: int from 1 to 10"):
        composed_preset(presets, "default", high, None, {"sequences.max_depth": 0})


def test_overrides_change_the_preview_and_a_refused_one_keeps_the_last_plan(page) -> None:  # type: ignore[no-untyped-def]
    from webapp.planner_callbacks import preview_outputs
    from webapp.planner_preview import cached_plan

    _, key, _, error = preview_outputs("default", DEFAULT_SLIDERS, [], [], None, {})
    plan = cached_plan(key)
    assert error == "" and plan is not None and len(plan.steps) >= 2  # the seeded portfolio buys two names
    # a plan is a sequence of at most max_depth trades: with the override at 1 it has one trade
    _, one_key, _, _ = preview_outputs("default", DEFAULT_SLIDERS, [], [], key, {"sequences.max_depth": 1})
    one = cached_plan(one_key)
    assert one is not None and len(one.steps) == 1 and one.preset == "default (tuned)"
    # proportional cost 5% (100x the default 0.05%): a round trip costs ~10%, more than any expected gain
    _, dear_key, _, _ = preview_outputs("default", DEFAULT_SLIDERS, [], [], one_key, {"costs.proportional": 0.05})
    dear = cached_plan(dear_key)
    assert dear is not None and len(dear.steps) < len(plan.steps)
    view, shown, _, error = preview_outputs("default", DEFAULT_SLIDERS, [], [], dear_key, {"costs.proportional": "x"})
    assert view is no_update and shown is no_update and "'costs.proportional' = 'x' is not allowed" in error


def test_versions_keep_overrides_diff_shows_them_and_restore_brings_them_back(page_db) -> None:  # type: ignore[no-untyped-def]
    from webapp.planner_preset_callbacks import save_user_preset
    from webapp.planner_preset_versions import diff_outputs, restore_outputs
    from webapp.planner_preview import all_presets, stored_overrides

    message, _, _ = save_user_preset("cheap", "default", DEFAULT_SLIDERS, [], [], {"costs.proportional": 0.01,
                                                                                   "sequences.max_depth": 1})
    assert "Saved 'cheap' version 1 (base default)" in str(message)
    refused, options, _ = save_user_preset("cheap", "cheap", DEFAULT_SLIDERS, [], [], {"costs.proportional": 0.5})
    assert "Not saved" in str(refused) and "'costs.proportional' = 0.5" in str(refused) and options is no_update
    message, _, _ = save_user_preset("cheap", "cheap", [1.0, *DEFAULT_SLIDERS[1:]], [], [],
                                     {"costs.proportional": 0.02})  # max_depth override dropped, risk slider up
    assert "Saved 'cheap' version 2 (base default)" in str(message)
    with page_db.store.read() as s:
        versions = api.preset_versions(s, "cheap")
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "planner.save_preset")))
    assert [(v.version, v.author, v.base, v.overrides) for v in versions] == [
        (1, "web:tess", "default", {"costs.proportional": 0.01, "sequences.max_depth": 1}),
        (2, "web:tess", "default", {"costs.proportional": 0.02})]
    assert [e.actor for e in events] == ["web:tess", "web:tess"]  # the refused save wrote nothing
    assert all_presets()["cheap"].params["sequences.max_depth"] == 6  # v2: the slider at 1, no override
    diff = str(diff_outputs("cheap", 1, 2))
    assert "Td('costs.proportional'), Td('0.01'), Td('0.02'), Td('set in v1 and v2')" in diff
    assert "Td('sequences.max_depth'), Td('1'), Td('6'), Td('set in v1')" in diff
    assert "Td('targets.max_weight'), Td('0.25'), Td('0.4'), Td('—')" in diff  # the slider's doing
    assert "Restored cheap version 1 as version 3" in str(restore_outputs("cheap", 1))
    assert stored_overrides("cheap") == {"costs.proportional": 0.01, "sequences.max_depth": 1}
    restored = all_presets()["cheap"]
    assert restored.params["sequences.max_depth"] == 1 and restored.params["costs.proportional"] == 0.01
    assert "identical" in str(diff_outputs("cheap", 1, 3))
    with page_db.store.read() as s:
        assert api.preset_versions(s, "cheap")[-1].author == "web:tess"


def test_the_panel_refuses_text_keeps_the_store_and_tells_slider_from_override(page) -> None:  # type: ignore[no-untyped-def]
    from webapp import planner_ids as ids
    from webapp.planner_overrides_panel import describe_outputs, edit_outputs

    click = [{"prop_id": f"{ids.OVERRIDE_ADD}.n_clicks", "value": 1}]
    store, message = edit_outputs(ids.OVERRIDE_ADD, 1, click, "sequences.max_depth", "two", {})
    assert store is no_update and "'sequences.max_depth' = 'two' is not a value; allowed: int from 1 to 10" in \
        str(message)
    store, message = edit_outputs(ids.OVERRIDE_ADD, 1, click, "sequences.max_depth", "2", {})
    assert store == {"sequences.max_depth": 2} and "sequences.max_depth = 2 overrides" in str(message)
    assert edit_outputs(ids.OVERRIDE_ADD, None, click, "sequences.max_depth", "2", {}) == (no_update, no_update)
    remove = ids.override_remove("sequences.max_depth")
    assert edit_outputs(remove, 1, [{"value": None}], None, None, store) == (no_update, no_update)  # row appeared
    store_after, _ = edit_outputs(remove, 1, [{"value": 1}], None, None, store)
    assert store_after == {}

    high = [1.0, *DEFAULT_SLIDERS[1:]]
    rows, precedence, options, help_text = describe_outputs("default", high, [], [], store, "sequences.max_depth")
    assert "Remove" in str(rows) and "int from 1 to 10" in str(rows)
    table = str(precedence)
    # max_depth: base 4, the slider sets 6, the override 2 is in effect
    assert ("Td(Code('sequences.max_depth')), Td('4'), Td('6 (risk_appetite)'), Td('2'), Td(Strong('2')), "
            "Td('override (beats slider risk_appetite)')") in table
    assert ("Td(Code('targets.max_weight')), Td('0.25'), Td('0.4 (risk_appetite)'), Td(''), Td(Strong('0.4')), "
            "Td('slider risk_appetite')") in table
    assert {"label": "sequences.max_depth (int from 1 to 10; now 2)", "value": "sequences.max_depth"} in options
    assert help_text == ("sequences.max_depth: int from 1 to 10; in effect now 2 "
                         "(set by override (beats slider risk_appetite)).")
    rows, _, _, _ = describe_outputs("default", high, [], [], {"sequences.max_depth": "2"}, None)  # forged store
    assert "'sequences.max_depth' = '2' is not allowed" in str(rows)
