"""A run's presets reach the engine's planner job through the planner's own preset store: the job's
preset_for_regime returns exactly the chosen parameters in every regime (or the table's choice)."""
from __future__ import annotations

from engine.backtest.presets import use_presets
from engine.backtest.private import backtest_settings, private_context
from engine.backtest.sample import simulated_frames
from engine.backtest.source import FrameReplaySource
from engine.params import default_params
from engine.planner.api import load_preset, preset_for_regime
from tests.integration import backtest_data


def test_chosen_preset_and_regime_table_are_what_the_planner_job_reads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    quick = load_preset(backtest_data.preset_file(tmp_path))
    aggressive = load_preset("aggressive")
    regimes = [str(r.regime_name) for r in default_params().table("RegimeParameters")]
    source = FrameReplaySource(simulated_frames(5), "IDX")
    ctx, _clock = private_context(tmp_path, source, backtest_settings(tmp_path, 1000.0, 2.0, 0.005, 0.25))
    try:
        table = use_presets(ctx, quick, {regimes[0]: aggressive}, regimes)
        assert table[regimes[0]] == "aggressive" and {table[r] for r in regimes[1:]} == {"quick"}
        with ctx.store.read() as s:
            first, why = preset_for_regime(s, regimes[0])
            other, _ = preset_for_regime(s, regimes[-1])
            before, _ = preset_for_regime(s, None)  # no regime classified yet: the default, as live
        assert first.params == aggressive.params and "aggressive" in why
        assert other.params == quick.params and other.name == "quick"
        assert before.params == load_preset("default").params
    finally:
        ctx.store.dispose()
