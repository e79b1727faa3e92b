"""The UI-facing catalogue and all-or-nothing edits."""
from engine.params import default_params
from engine.params.catalog import apply_edits, catalog, rules_for, sheets_by_group


def test_catalog_covers_every_field_with_editor_and_usage():
    entries = catalog()
    assert len(entries) == 420
    # 26 limits + 3 bias-table columns + 2 risk-group and 2 group-limit columns (issue 17), our addition
    assert sum(e.sheet == "TradingRisk" for e in entries) == 33
    atr = next(e for e in entries if e.key == "ATRIndicatorsConfig.main.atr_period")
    assert (atr.editor, atr.min, atr.max, atr.default, atr.unit, atr.used) == ("slider", 7, 21, 14, "periods", True)
    gpu = next(e for e in entries if e.name == "gpu_acceleration")
    assert gpu.editor == "switch" and not gpu.used and "GPU" in gpu.unused_reason
    assert [e.name for e in entries if e.matches("hysteresis")] == ["hysteresis_buffer", "adaptive_hysteresis"]
    assert sheets_by_group()["Regime"][0] == "TransitionRules"
    assert any(r["rule"] == "time_slots" for r in rules_for("IntradaySettings"))


def test_apply_edits_valid_and_invalid():
    base = default_params()
    ok = apply_edits(base, values={("ATRIndicatorsConfig", "main", "atr_period"): "21"},
                     cells={("RegimeParameters", "main", 0, "entry_threshold"): 0.41})
    assert ok.ok and ok.paramset.sheet("ATRIndicatorsConfig").atr_period == 21
    assert {(c.sheet, c.cell) for c in ok.changes} == {("ATRIndicatorsConfig", "B2"), ("RegimeParameters", "F2")}
    bad = apply_edits(base, values={("ATRIndicatorsConfig", "main", "atr_period"): "99",
                                    ("MasterConfiguration", "main", "market_close_time"): "09:00"})
    assert not bad.ok and bad.changes == []
    assert {i.where for i in bad.issues} == {"ATRIndicatorsConfig!B2", "MasterConfiguration!B14"}
    rows = [r.as_dict() for r in base.table("IntradaySettings")]
    rows[1], rows[2] = rows[2], rows[1]  # reorder slots: overlapping now
    swapped = apply_edits(base, tables={("IntradaySettings", "main"): rows})
    assert not swapped.ok and any("before the previous slot ends" in i.message for i in swapped.issues)
