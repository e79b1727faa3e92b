"""Regime engine: classifies each underlying into the workbook's RegimeClassification regimes.

Public API (everything reads the parameters it needs from a ParamSet; nothing is hard-wired):

    from engine.regime import RegimeClassifier, replay

    clf = RegimeClassifier(params, symbol="IDX")          # one per underlying, keeps state
    clf.update_many(history_df)                           # warm up / rebuild after a restart
    out = clf.update(new_bars_df_or_Bar, chain=option_chain_or_None, peers={"SYM": df})  # each cycle
    out.regime_name, out.color, out.confidence, out.transition, out.transition_rule
    out.to_snapshot()   # scalar fields + "modules" JSON (for the regime_snapshots table)
    out.to_record()     # flat OutputFormat-style record (what the CLI and replay write)

    df = replay(bars_df, params, chains=None, progress=cb)   # batch: identical to feeding bars one by one

    from engine.regime.stats import transition_matrix, duration_stats, spells   # for the Regime page

When the active parameter version changes, build a new RegimeClassifier and feed it the stored
history (a replay of 2,000 bars takes well under a second). Rows marked ``warmup`` (regime_id -1)
precede the first classification (bar interval and ATR/ADX need ~30 bars).
"""
from engine.regime.classifier import RegimeClassifier
from engine.regime.replay import replay
from engine.regime.types import ModuleContribution, ModuleResult, RegimeError, RegimeOutput

__all__ = ["ModuleContribution", "ModuleResult", "RegimeClassifier", "RegimeError", "RegimeOutput", "replay"]
