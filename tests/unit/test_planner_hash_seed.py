"""The planner's plan does not depend on the process's string hash seed: a backtest or a plan repeated in
another process (a web worker, the engine, the CLI) must give the same numbers to the last bit, so no score
may be summed in a set's iteration order (which changes with PYTHONHASHSEED)."""
from __future__ import annotations

import subprocess
import sys

from engine.settings import PROJECT_ROOT

PLAN_SCORES = """
from engine.planner import synthetic
from engine.planner.api import build_planner, load_preset
from engine.planner.context import build_context
from engine.planner.turnover_anchor import bounds

state = synthetic.portfolio(positions=30, symbols=60, seed=3)
for name in ("default", "aggressive"):
    planner = build_planner(load_preset(name))
    plan = planner.plan(state)
    print(name, plan.label, [(s.side, s.symbol, repr(s.qty)) for s in plan.steps])
    ctx = build_context(state, planner.preset.params)  # every sequence's unrounded score parts (the plan rounds)
    ranked = planner.evaluate(ctx, planner.sequences(ctx, planner.candidates(ctx)), bounds(planner.anchors, state))
    print(sorted((r.seq.label, repr(r.parts["target_distance"]), repr(r.parts["total"])) for r in ranked))
"""


def _scores(seed: str) -> str:
    proc = subprocess.run([sys.executable, "-c", PLAN_SCORES], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=240, env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_plans_are_identical_under_different_hash_seeds() -> None:
    first = _scores("1")
    assert first.count("\n") == 4 and "default" in first, first
    for seed in ("2", "12345"):
        assert _scores(seed) == first, f"PYTHONHASHSEED={seed} changed the plan"
