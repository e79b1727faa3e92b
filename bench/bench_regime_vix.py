"""Does the implied-volatility index help? Volatility-class agreement with the simulated market's true regimes,
replayed without and with its VIX (engine/market/simulated.py vol_index_history), reference workbook.

Run: python -m bench.bench_regime_vix [minutes] [seeds...]
"""
from __future__ import annotations

import sys
import time

from engine.market.simulated import SimulatedMarket
from engine.params import default_params
from engine.regime.quality import score
from engine.regime.replay import replay


def main(minutes: int = 20_000, seeds: tuple[int, ...] = (1, 2, 3)) -> None:
    ps = default_params()
    print(f"{'seed':>4} {'vol match, no VIX':>18} {'with VIX':>9} {'trend no VIX':>13} {'with VIX':>9} {'s':>5}")
    for seed in seeds:
        t0 = time.perf_counter()
        m = SimulatedMarket(seed=seed)
        bars, truth = m.history(minutes)
        idx = bars[bars["symbol"] == m.index_symbol()].rename(columns={"ts": "timestamp"}).reset_index(drop=True)
        vix = m.vol_index_history(minutes).rename(columns={"ts": "timestamp"})
        plain = score(replay(idx, ps, symbol="IDX"), truth, ps)
        blended = score(replay(idx, ps, symbol="IDX", vol_index=vix), truth, ps)
        print(f"{seed:>4} {plain.vol_match:>18.3f} {blended.vol_match:>9.3f} {plain.trend_match:>13.3f} "
              f"{blended.trend_match:>9.3f} {time.perf_counter() - t0:>5.1f}")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    main(args[0] if args else 20_000, tuple(args[1:]) or (1, 2, 3))
