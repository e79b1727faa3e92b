"""Sample market data for tests, benchmarks and demos: the simulated market's path as per-symbol frames.

`freq="B"` relabels consecutive simulated minutes as business days (a daily-bar history with the
simulation's regimes); `freq="min"` keeps the one-minute bars as they are.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.market.simulated import DEFAULT_START, SimulatedMarket


def simulated_frames(n_bars: int, freq: str = "B", seed: int = 7,
                     start: str | pd.Timestamp = "2005-01-03") -> dict[str, pd.DataFrame]:
    bars, _regimes = SimulatedMarket(seed=seed).history(n_bars)  # sorted by minute, then symbol
    if freq == "min":
        bars = bars.assign(timestamp=bars["ts"])
    else:
        times = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=n_bars, freq=freq)
        minute = ((bars["ts"] - DEFAULT_START) // pd.Timedelta(minutes=1)).to_numpy()
        bars = bars.assign(timestamp=times[minute])
    cols = ["timestamp", "open", "high", "low", "close", "volume"]
    return {str(sym): g[cols].reset_index(drop=True) for sym, g in bars.groupby("symbol", sort=True)}


def write_csv_dir(frames: dict[str, pd.DataFrame], folder: str | Path) -> Path:
    """One SYMBOL.csv per frame in the CSV source's format."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for sym, frame in frames.items():
        f = frame.copy()
        f["timestamp"] = f["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        f.to_csv(out / f"{sym}.csv", index=False, float_format="%.6f")
    return out
