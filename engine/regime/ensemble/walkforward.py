"""Walk-forward ensemble over a whole history (backtests, the bench, the no-look-ahead test): refit every
``refit_every`` rows on the ``train_window`` rows before the refit point, then step the rows after it.
"""
from __future__ import annotations

from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits

from engine.regime.ensemble.config import CalibrationConfig, EnsembleConfig
from engine.regime.ensemble.features import matrix
from engine.regime.ensemble.models import MIN_FIT_ROWS, FittedEnsemble, fit_ensemble
from engine.regime.ensemble.stepper import EnsembleStepper


def walk_forward(frame: pd.DataFrame, cfg: EnsembleConfig, cal: CalibrationConfig, refit_every: int | None = None,
                 train_window: int = 20_000) -> tuple[list[dict[str, Any] | None], list[FittedEnsemble]]:
    """One verdict per row (None before the first fit) and the models fitted, in order."""
    every = refit_every or cfg.refit_every_bars
    x = matrix(frame)
    labels = frame["label"].to_numpy()
    ts = frame["ts"].to_numpy()
    stepper = EnsembleStepper(cfg, cal)
    fitted: list[FittedEnsemble] = []
    last_fit: int | None = None
    out: list[dict[str, Any] | None] = []
    rows: list[dict[str, Any]] = [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]
    xs = static = None
    for t, row in enumerate(rows):
        if t >= MIN_FIT_ROWS and (last_fit is None or t - last_fit >= every):
            lo = max(0, t - train_window)  # rows [lo, t): strictly before the bar about to be classified
            model = fit_ensemble(x[lo:t], labels[lo:t], ts[lo:t], cfg.regime_ids, stacking=cfg.method == "STACKING")
            fitted.append(model)
            stepper.set_model(model, len(fitted))
            last_fit = t
            xs = model.scale(x[t:t + every])  # this model's rows: the row-wise models in one batch
            with threadpool_limits(1):
                static = model.static_proba(xs)
        if last_fit is None or xs is None or static is None:
            out.append(stepper.step(row))
            continue
        k = t - last_fit
        out.append(stepper.step(row, xs[k], {m: p[k] for m, p in static.items()}))
    return out, fitted
