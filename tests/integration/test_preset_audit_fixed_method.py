"""audit1 defect 1: targets.method = "fixed" without fixed target weights (only the CLI's --targets supplies them)
made every target 0%, so the plan sold every holding. Now: refused where it is set (page, user presets, regime
table, CLI without --targets), and planning with an already stored one is refused (no plan, a clear message)."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.planner.cli import main
from engine.planner.planner import build_planner
from engine.planner.preset import PresetError, compose_preset, load_preset
from engine.planner.preset_store import (
    list_presets,
    preset_versions,
    save_user_preset,
    set_regime_preset_table,
)
from engine.planner.synthetic import NOW
from engine.planner.types import Holding, PortfolioState
from engine.store.db import Store
from engine.store.migrate import open_store
from engine.store.models import PlannerPresetVersion

FIXED = {"targets.method": "fixed"}
REFUSAL = r"targets\.method' = 'fixed' needs fixed target weights.*--targets"


def test_compose_refuses_fixed_without_targets() -> None:
    """The page composes every preview and save through compose_preset: 'fixed' is refused there, by key."""
    with pytest.raises(PresetError, match=REFUSAL):
        compose_preset(load_preset("default"), {}, FIXED, name="mine")


def test_planning_with_fixed_and_no_weights_is_refused_not_a_sell_all() -> None:
    """A preset that bypasses composition (a version stored before the rule) still never plans 'sell everything':
    the plan is refused. On the old code this plan sold the holdings, each 'vs target 0.0%'."""
    default = load_preset("default")
    preset = replace(default, name="old", params={**default.params, **FIXED})
    state = _three_uptrends()
    # default never sells them all (it did keep all three while a diversification bonus grew with exposure; its
    # targets hold S4 alone at 25% here, so since audit 24 it trims toward them)
    sold_out = {s.symbol for s in build_planner(default).plan(state).steps if s.side == "sell" and s.qty >= 60}
    assert sold_out < {"S0", "S2", "S4"}
    with pytest.raises(PresetError, match=REFUSAL):  # old code: sell 30 S0, S2, S4 "vs target 0.0%"
        build_planner(preset).plan(state)


def _three_uptrends() -> PortfolioState:
    """Six seeded random walks (even columns drift up); 60 shares each of the three up-trending ones, held 400
    days, and 10,000 cash: each holding is 20-30% of equity, all in the default preset's target universe."""
    rng = np.random.default_rng(1)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    index = pd.DatetimeIndex([now - timedelta(days=260 - i) for i in range(260)])
    closes = {f"S{j}": 100 * np.exp(np.cumsum(rng.normal(0.002 if j % 2 == 0 else -0.001, 0.01, 260)))
              for j in range(6)}
    held = {s: Holding(s, 60, 100.0, now - timedelta(days=400)) for s in ("S0", "S2", "S4")}
    return PortfolioState(positions=held, cash=10_000, history=pd.DataFrame(closes, index=index), now=now)


def _insert_stored_fixed(store: Store, name: str) -> None:
    """A user preset version saved before the rule (written as the old save_user_preset wrote it)."""
    with store.write() as s:
        s.add(PlannerPresetVersion(name=name, version=1, created_at=NOW, author="tess", base="default",
                                   sliders={}, overrides=dict(FIXED), note=""))


def test_user_preset_with_fixed_is_refused_and_a_stored_one_cannot_plan(any_db_url: str) -> None:
    store = open_store(any_db_url, migrate=True)
    try:
        with pytest.raises(PresetError, match=REFUSAL):
            save_user_preset(store, NOW, "tess", "fixed-t", "default", {}, FIXED)
        with store.read() as s:
            assert preset_versions(s, "fixed-t") == []  # nothing stored
        _insert_stored_fixed(store, "legacy")
        with store.read() as s:
            legacy = list_presets(s)["legacy"]  # still listed (not silently replaced by default) ...
        with pytest.raises(PresetError, match=REFUSAL):  # ... but the regime table cannot map a regime to it
            set_regime_preset_table(store, NOW + timedelta(minutes=1), "tess", {"Bullish_Low_Vol": "legacy"})
        with pytest.raises(PresetError, match=REFUSAL):  # and planning with it is refused: no sells
            build_planner(legacy).plan(_three_uptrends())
    finally:
        store.dispose()


def test_cli_preset_file_with_fixed_needs_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bars = tmp_path / "bars"
    bars.mkdir()
    rng = np.random.default_rng(3)
    for symbol, drift in (("UPP", 0.004), ("FLT", 0.0005)):
        closes = 50 * np.exp(np.cumsum(drift + 0.01 * rng.standard_normal(200)))
        index = pd.date_range("2026-01-01", periods=200, freq="D", tz="UTC")
        pd.DataFrame({"timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ"), "open": closes, "high": closes * 1.01,
                      "low": closes * 0.99, "close": closes, "volume": 1000}).to_csv(bars / f"{symbol}.csv",
                                                                                       index=False)
    positions = tmp_path / "positions.csv"
    positions.write_text("symbol,qty,avg_price,opened_at\nUPP,50,50,2026-01-02\n", encoding="utf-8")
    preset = tmp_path / "fixed.toml"
    preset.write_text('[targets]\nmethod = "fixed"\n', encoding="utf-8")
    targets = tmp_path / "targets.csv"
    targets.write_text("symbol,weight\nUPP,0.5\nFLT,0.3\n", encoding="utf-8")
    common = ["plan", "--csv-dir", str(bars), "--positions", str(positions), "--cash", "5000",
              "--preset-file", str(preset), "--json"]
    assert main(common) == 1
    err = capsys.readouterr().err
    assert "targets.method' = 'fixed' needs --targets" in err and "Traceback" not in err
    assert main([*common, "--targets", str(targets)]) == 0, capsys.readouterr().err  # with --targets: plans
