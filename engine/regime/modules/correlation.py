"""CorrelationMatrix (IndicatorConfiguration parameters: lookback, min_correlation, assets).

With peer assets: rolling correlation of log returns (TA-Lib CORREL) over ``lookback`` bars; each
peer correlated at |rho| >= min_correlation votes its own trend (tanh of its lookback z-move) signed
by rho. Score = rho-weighted mean vote. Vol: none. Inactive with a single asset.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import talib

from engine.market.types import OptionChain
from engine.params.paramset import ParamSet
from engine.regime.modules.base import Frame, RegimeModule, clip1
from engine.regime.modules.chainutil import ChainView
from engine.regime.series import log_returns
from engine.regime.types import ModuleResult


class CorrelationModule(RegimeModule):
    name, component, column = "CorrelationMatrix", "Correlation", "correlation"

    def __init__(self, ps: ParamSet) -> None:
        super().__init__(ps)
        self.lookback = int(self.need("lookback"))
        self.min_corr = float(self.need("min_correlation"))
        assets = self.extra.get("assets", [])
        self.assets = [str(a) for a in (assets if isinstance(assets, list) else [assets])]
        self.a: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def prepare(self, frame: Frame) -> None:
        self.a = {}
        r0 = frame.logret
        n = len(r0)
        if n < 2:
            return
        for name, close in frame.peers.items():
            rp = log_returns(close)
            both = np.isfinite(r0) & np.isfinite(rp)
            rho = talib.CORREL(np.where(both, r0, 0.0), np.where(both, rp, 0.0), timeperiod=self.lookback)
            move = np.full(n, np.nan)
            with np.errstate(invalid="ignore", divide="ignore"):
                lc = np.log(close)
                sd = talib.STDDEV(np.nan_to_num(rp), timeperiod=self.lookback, nbdev=1.0)
                move[self.lookback:] = (lc[self.lookback:] - lc[:-self.lookback]) / (sd[self.lookback:] * np.sqrt(self.lookback))
            self.a[name] = (rho, np.tanh(move))

    def step(self, i: int, chain: OptionChain | ChainView | None, frame: Frame) -> ModuleResult:
        if not frame.peers:
            return ModuleResult.inactive(self.name, "single asset: correlation needs peer symbols")
        if not self.a:
            return ModuleResult.inactive(self.name, f"warming up: needs {self.lookback}+ bars")
        num = den = 0.0
        diag: dict[str, Any] = {}
        strong = 0
        for name, (rho, vote) in self.a.items():
            r, v = float(rho[i]), float(vote[i])
            diag[f"rho_{name}"] = r
            if np.isfinite(r) and np.isfinite(v) and abs(r) >= self.min_corr:
                num += r * v
                den += abs(r)
                strong += 1
        diag["correlated_peers"] = strong
        rhos = [abs(float(x[0][i])) for x in self.a.values() if np.isfinite(x[0][i])]
        diag["mean_abs_rho"] = float(np.mean(rhos)) if rhos else 0.0
        return ModuleResult(self.name, clip1(num / den) if den > 0 else 0.0, None, True, "", diag)
