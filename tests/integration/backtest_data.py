"""Small backtest inputs shared by the backtest tests: 3 simulated symbols as daily bars and a quick preset."""
from __future__ import annotations

from pathlib import Path

from engine.backtest.sample import simulated_frames, write_csv_dir

QUICK_PRESET = """name = "quick"
description = "short trend windows so a few dozen bars already trade"

[sliders]
risk_appetite = 0.8
hold_duration = 0.0
entry_style = 0.5
position_spread = 0.5
profit_taking = 0.5
regime_sensitivity = 0.5

[calculators.trend]
slow_window = 20  # the hold slider no longer shortens the trend (engine/planner/sliders.py): set it here
"""
SYMBOLS = ("IDX", "ALFA", "BRVO")


def csv_dir(folder: Path, bars: int = 80) -> Path:
    frames = simulated_frames(bars)
    return write_csv_dir({s: frames[s] for s in SYMBOLS}, folder)


def preset_file(folder: Path) -> Path:
    path = folder / "quick.toml"
    path.write_text(QUICK_PRESET, encoding="utf-8")
    return path
