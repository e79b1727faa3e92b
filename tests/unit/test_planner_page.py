"""Planner page callback functions called directly inside the real Flask app, on a SQLite store holding a small
real portfolio (tests/planner_page_fixtures.py). Expectations come from the preset files read with tomllib,
the slider mapping's documented end points, and cash/cost arithmetic done here."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from dash import no_update
from sqlalchemy import select

from engine.planner import api
from engine.store.models import AccountSnapshot, AuditEvent, BarRow
from tests.planner_page_fixtures import NOW, trader_page

ROOT = Path(__file__).resolve().parents[2]
SLIDER_NAMES = [s.name for s in api.SLIDERS]


@pytest.fixture()
def page(tmp_path):  # type: ignore[no-untyped-def]
    with trader_page(tmp_path) as (app, ctx):
        yield ctx


def switch_ids(preset_name: str = "default") -> list[dict[str, str]]:
    from pages.planner import switch_keys

    return [{"type": "planner-switch", "name": k} for k in switch_keys(api.load_preset(preset_name))]


def controls(name: str = "default") -> tuple[list[float], list[dict[str, str]], list[bool]]:
    from webapp.planner_callbacks import preset_controls

    ids = switch_ids(name)
    sliders, switches, _ = preset_controls(name, ids)
    return sliders, ids, switches


def test_picking_a_preset_sets_its_sliders_and_switches_from_its_file(page) -> None:  # type: ignore[no-untyped-def]
    from webapp.planner_callbacks import preset_controls

    for name in api.BUILT_IN_PRESETS:
        data = tomllib.loads((ROOT / "config" / "planner" / f"{name}.toml").read_text())
        ids = switch_ids(name)
        sliders, switches, description = preset_controls(name, ids)
        assert sliders == [data["sliders"][s] for s in SLIDER_NAMES]
        assert description == data["description"]
        by_key = dict(zip((i["name"] for i in ids), switches, strict=True))
        assert by_key["calculators.averaging_down.enabled"] is data["calculators"]["averaging_down"]["enabled"]
    sliders, switches, message = preset_controls("nope", switch_ids())
    assert sliders == [no_update] * 6 and "unknown preset 'nope'" in message


def test_the_sliders_and_switches_compose_the_preset_the_preview_plans_with(page) -> None:  # type: ignore[no-untyped-def]
    from webapp.planner_preview import all_presets, composed_preset

    presets = all_presets()
    untouched = composed_preset(presets, "default", [0.5, 0.4, 0.5, 0.5, 0.5, 0.5], None)
    assert untouched.name == "default"
    # risk_appetite moves scoring.risk_weight from 3.0 (at 0) to 0.3 (at 1) and targets.max_weight 0.10 -> 0.40
    high = composed_preset(presets, "default", [1.0, 0.4, 0.5, 0.5, 0.5, 0.5], None)
    assert (high.name, high.params["scoring.risk_weight"], high.params["targets.max_weight"]) == \
        ("default (tuned)", pytest.approx(0.3), pytest.approx(0.40))
    mid = composed_preset(presets, "default", [0.5] * 6, {"calculators.trend.enabled": False})
    assert mid.params["scoring.risk_weight"] == pytest.approx(3.0 + (0.3 - 3.0) * 0.5)  # 1.65
    assert mid.params["calculators.trend.enabled"] is False and mid.name == "default (tuned)"
    for sliders, switches, message in [
        ([0.5] * 5, None, "expected 6 slider values"), ("abcdef", None, "expected 6 slider values"),
        ([0.5] * 5 + [1.5], None, "regime_sensitivity must be a number from 0 to 1"),
        ([0.5] * 5 + [True], None, "must be a number from 0 to 1"),
        ([0.5] * 6, {"costs.fixed": True}, "'costs.fixed' is not a module switch"),
        ([0.5] * 6, {"calculators.trend.enabled": "off"}, "is not a module switch"),
    ]:
        with pytest.raises(api.PresetError, match=message):
            composed_preset(presets, "default", sliders, switches)
    with pytest.raises(api.PresetError, match="unknown preset 'nope'"):
        composed_preset(presets, "nope", [0.5] * 6, None)


def test_preview_plans_only_when_an_input_changed(page, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from webapp import planner_preview
    from webapp.planner_callbacks import preview_outputs

    built: list[str] = []
    real = api.build_planner
    monkeypatch.setattr(planner_preview.api, "build_planner", lambda p: built.append(p.name) or real(p))
    sliders, ids, switches = controls()
    view, key, portfolio, error = preview_outputs("default", sliders, ids, switches, None)
    assert error == "" and key.startswith("planner-plan:") and built == ["default"]
    assert preview_outputs("default", sliders, ids, switches, key) == (no_update,) * 4  # nothing changed
    assert built == ["default"]
    _, other, _, _ = preview_outputs("default", [0.9, *sliders[1:]], ids, switches, key)  # a slider moved
    assert other != key and built == ["default", "default (tuned)"]
    _, again, _, _ = preview_outputs("default", sliders, ids, switches, other)  # back: answered from the cache
    assert again == key and len(built) == 2
    with page.store.write() as s:  # a new bar: prices changed
        last = s.scalars(select(BarRow).order_by(BarRow.ts.desc()).limit(1)).one()
        s.add(BarRow(symbol=last.symbol, ts=last.ts.replace(hour=22), open=last.close, high=last.close,
                     low=last.close, close=last.close * 1.01, volume=1.0))
    _, moved, portfolio_after, _ = preview_outputs("default", sliders, ids, switches, key)
    assert moved != key and portfolio_after == portfolio and len(built) == 3  # the portfolio itself is the same
    view, _, _, error = preview_outputs("default", [2.0, *sliders[1:]], ids, switches, moved)
    assert view is no_update and "risk_appetite must be a number from 0 to 1" in error  # the last plan stays


def test_the_plan_view_lists_each_trade_in_order_with_the_cash_left(page) -> None:  # type: ignore[no-untyped-def]
    from components import formatting as fmt
    from webapp.planner_preview import all_presets, preview
    from webapp.planner_views import plan_view

    shown = preview(all_presets()["default"])
    plan = shown.plan
    assert plan.steps, "the seeded portfolio (cash, trending names) should get a plan with trades"
    with page.store.read() as s:
        cash = float(s.scalars(select(AccountSnapshot.cash).order_by(AccountSnapshot.id.desc())).first())
    fixed, proportional = shown.preset.params["costs.fixed"], shown.preset.params["costs.proportional"]
    for step in plan.steps:  # cash after each step = before -/+ notional - (fixed + proportional x notional)
        assert step.notional == pytest.approx(step.qty * step.price)
        cost = fixed + proportional * step.notional  # type: ignore[operator]
        cash += (-step.notional if step.side == "buy" else step.notional) - cost
        assert step.cash_after == pytest.approx(cash, abs=0.01) and step.cash_after >= 0
    text = str(plan_view(plan))
    positions = [text.index(f"'{s.symbol}'") for s in plan.steps]
    assert positions == sorted(positions)  # rows in the planned order
    for step in plan.steps:
        assert fmt.money(step.cash_after) in text and step.calculator in text and step.pattern in text
    assert "Runner-up sequences" in text and "total" in text


def test_send_dialog_and_refusals(page) -> None:  # type: ignore[no-untyped-def]
    from webapp.planner_callbacks import preview_outputs, send_dialog, send_shown_plan
    from webapp.planner_preview import cached_plan
    from webapp.planner_views import qty_text

    sliders, ids, switches = controls()
    _, key, portfolio, _ = preview_outputs("default", sliders, ids, switches, None)
    plan = cached_plan(key)
    assert plan is not None
    is_open, body, disabled = send_dialog(key)
    assert disabled is (not plan.steps or bool(plan.relaxed))  # nothing to send: the dialog's Send is disabled
    lines = [f"{s.side} {qty_text(s.qty)} {s.symbol}" for s in plan.steps]
    text = str(body)
    assert is_open and [text.index(line) for line in lines] == sorted(text.index(line) for line in lines)
    assert "no longer available" in str(send_dialog("planner-plan:unknown")[1])
    assert send_dialog("planner-plan:unknown")[2] is True
    assert "no longer available" in str(send_dialog({"evil": 1})[1])
    assert "portfolio changed" in str(send_shown_plan(key, "another-portfolio"))
    from dataclasses import replace

    from webapp.cache import cache
    from webapp.planner_preview import KEY_PREFIX

    cache.set(KEY_PREFIX + "empty", replace(plan, steps=[]))  # a hold plan: nothing to send, nothing to confirm
    assert send_dialog(KEY_PREFIX + "empty")[1:] == ("The plan has no trades: there is nothing to send.", True)


def test_user_presets_save_versions_diff_and_restore_audited(page) -> None:  # type: ignore[no-untyped-def]
    from webapp.planner_preset_callbacks import save_user_preset
    from webapp.planner_preset_versions import diff_outputs, restore_outputs, versions_outputs

    sliders, ids, switches = controls()
    off = [False if i["name"] == "calculators.trend.enabled" else v for i, v in zip(ids, switches, strict=True)]
    message, options, _ = save_user_preset(" mine ", "default", [0.5] * 6, ids, off)
    assert "Saved 'mine' version 1 (base default)" in str(message)
    assert {"label": "mine (user)", "value": "mine"} in options
    message, _, _ = save_user_preset("mine", "mine", [1.0, *([0.5] * 5)], ids, off)  # tuned from itself
    assert "version 2 (base default)" in str(message)
    for bad, why in [("default", "is a built-in preset"), ("", "needs a name"), ("x" * 65, "needs a name")]:
        assert why in str(save_user_preset(bad, "default", sliders, ids, switches)[0])
    with page.store.read() as s:
        versions = api.preset_versions(s, "mine")
    assert [(v.version, v.author, v.base, v.overrides) for v in versions] == \
        [(1, "web:tess", "default", {"calculators.trend.enabled": False}),
         (2, "web:tess", "default", {"calculators.trend.enabled": False})]
    table, options, a, b = versions_outputs("mine")
    assert (a, b) == (1, 2) and [o["value"] for o in options] == [1, 2] and "web:tess" in str(table)
    diff = str(diff_outputs("mine", 1, 2))
    # risk_appetite 0.5 -> 1.0: scoring.risk_weight 1.65 -> 0.3, targets.max_weight 0.25 -> 0.4
    for key, a_value, b_value in [("sliders.risk_appetite", 0.5, 1.0), ("scoring.risk_weight", 1.65, 0.3),
                                  ("targets.max_weight", 0.25, 0.4)]:
        assert f"Tr([Td('{key}'), Td('{a_value}'), Td('{b_value}')])" in diff, key
    assert "hold_duration" not in diff
    assert "Restored mine version 1 as version 3" in str(restore_outputs("mine", 1))
    assert "identical" in str(diff_outputs("mine", 1, 3))
    assert "has no version 9" in str(restore_outputs("mine", 9))
    with page.store.read() as s:
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "planner.save_preset")))
    assert [e.actor for e in events] == ["web:tess"] * 3


def test_regime_table_saved_audited_and_checked(page) -> None:  # type: ignore[no-untyped-def]
    from engine.params import default_params
    from webapp.planner_regime_table import save_regime_table

    names = [str(r.regime_name) for r in default_params().table("RegimeParameters")]  # the page sends every row
    ids = [{"type": "planner-regime", "name": r} for r in names]
    values = ["conservative" if r == "Bearish_High_Vol" else "default" for r in names]
    assert "Saved: Bearish_High_Vol → conservative" in str(save_regime_table(ids, values))
    with page.store.read() as s:
        assert api.regime_preset_table(s) == dict.fromkeys(names, "default") | {"Bearish_High_Vol": "conservative"}
        preset, why = api.preset_for_regime(s, "Bearish_High_Vol")
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "planner.set_regime_presets")).one()
    assert preset.name == "conservative" and "web:tess" in why and event.actor == "web:tess"
    assert "unknown preset 'nope'" in str(save_regime_table(ids, [*values[:-1], "nope"]))
    assert "out of date" in str(save_regime_table(ids, ["default"]))
    with page.store.read() as s:
        assert api.regime_preset_table(s)["Bearish_High_Vol"] == "conservative"  # the refused edit changed nothing


def test_compare_and_stored_plans_answer_only_on_change(page) -> None:  # type: ignore[no-untyped-def]
    from webapp.planner_callbacks import compare_outputs
    from webapp.planner_preview import all_presets, preview
    from webapp.planner_recent_plans import recent_outputs

    view, keys = compare_outputs("conservative", "aggressive", None)
    presets = all_presets()
    assert keys == [preview(presets["conservative"]).key, preview(presets["aggressive"]).key]
    assert "planner-compare-left" in str(view) and "planner-compare-right" in str(view)
    assert compare_outputs("conservative", "aggressive", keys) == (no_update, no_update)
    assert compare_outputs("default", "aggressive", keys, "regimes") == (no_update, no_update)  # tab not open
    assert recent_outputs(None, "compare") == (no_update, no_update)
    assert "Pick two presets" in str(compare_outputs("conservative", None, keys)[0])

    table, stamp = recent_outputs(None)
    assert "No stored plans yet" in str(table)
    assert recent_outputs(stamp) == (no_update, no_update)
    plan = preview(presets["default"]).plan
    with page.store.write() as s:
        api.store_plan(s, NOW, plan, "engine", {}, None)
    table, _ = recent_outputs(stamp)
    assert "default" in str(table) and f"{plan.sequences_evaluated}" in str(table)


def test_views_label_what_if_sequences_and_order_the_weights() -> None:
    from engine.planner.api import PlanResult, PlanStep, SequenceSummary
    from webapp.planner_views import outcomes_view, plan_view, qty_text, weights_figure

    step = PlanStep("AAA", "sell", 1234.0, 10.0, 12340.0, "profit_taking", "profit_taking", "gain +45%", 62339.0,
                    1.0, "cut to 1,234: max_order_notional")
    plan = PlanResult([step], {"return": 0.5, "risk": -0.25, "total": 0.25},
                      [SequenceSummary("relaxed/what-if", 0.4, "sell 2,000 AAA", "max_order_notional x1.5")],
                      7, 3.2, "default", "Bullish_Low_Vol", "regime table", {"AAA": 0.3, "BBB": -0.5},
                      {"AAA": 0.1, "CCC": 0.2}, 1.0, relaxed=None, label="profit_taking/combinatorial")
    text = str(plan_view(plan))
    assert "what-if: max_order_notional x1.5 relaxed" in text  # the runner-up says it relaxed a limit
    assert "Td('1,234')" in text and "Td('$12,340.00')" in text and "Td('$62,339.00')" in text
    # the score table: total 0.25 in score points to 3 significant digits (runner-ups keep their 4 decimals)
    assert "cut to 1,234: max_order_notional" in text and "Strong(children='+0.250'" in text
    assert (qty_text(1234.0), qty_text(2.5), qty_text(0.125)) == ("1,234", "2.5", "0.125")
    figure = weights_figure(plan.weights_before, plan.weights_after)
    before, after = figure["data"]
    assert before["x"] == ["BBB", "AAA", "CCC"]  # largest weight (either side) first
    assert (before["y"], after["y"]) == ([-0.5, 0.3, 0.0], [0.0, 0.1, 0.2])

    class Outcome:
        def __init__(self, status: str, message: str) -> None:
            self.symbol, self.side, self.qty, self.status, self.message = "AAA", "sell", 5.0, status, message

    rows = str(outcomes_view([Outcome("new", "sent (rd-1)"), Outcome("blocked", "trading is HALTED")]))
    assert "Badge(children='new', color='success')" in rows and "Badge(children='blocked', color='danger')" in rows


def test_the_page_says_how_the_presets_turnover_is_ordered(page) -> None:  # type: ignore[no-untyped-def]
    """The turnover anchors (conservative <= default <= aggressive) are told to the trader in one sentence."""
    from pages.planner import layout

    text = str(layout())
    assert "Conservative never trades more than Default" in text and "Aggressive never trades less" in text
