"""A restart (a new regime stage, as a new engine process builds) or a parameter apply that keeps the model and
the ensemble settings must not change what the same model answers on the same bars: the stage rebuilds the
calibrator's calls, the models' agreement (adaptive weighting), the HMM filter and the answer runs from the
verdicts already stored, so every verdict after the restart equals the one of an engine that never stopped.
An apply that changes the ensemble's settings starts that state fresh, and the log says so.

Real parts: the migrated store (SQLite and PostgreSQL), RegimeStage.run on stored bars, a model fitted by the
refit job's own fit_model and stored with its model key. The oracle is the same stage run without a restart on
a second symbol (the same bars, the same model) in the same store, bar by bar.
"""
from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from engine.clock import ManualClock
from engine.context import EngineContext
from engine.market.types import Bar, MarketUpdate
from engine.params import ParamSet, default_params
from engine.params.versions import apply_version
from engine.regime.ensemble import store as model_store
from engine.regime.ensemble.config import EnsembleConfig
from engine.regime.ensemble.job import fit_model
from engine.regime.ensemble.model_key import model_key
from engine.regime.ensemble.models import FittedEnsemble
from engine.regime.testing import edited
from engine.regime_stage import RegimeStage
from engine.runtime import build_context
from engine.settings import load_settings
from engine.store.models import BarRow, RegimeSnapshot

START = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
HISTORY, LIVE, BATCH = 700, 330, 15  # stored before the model, then classified live in batches of BATCH bars
RESTART = 16 * BATCH  # live bars before the restart: past the agreement window (200) and the calibration window
SWITCH = 9 * BATCH  # live bars before a second model comes in (fewer than 200 of its verdicts before the restart)
PARAMS = edited(default_params(), {("ConfidenceCalibration", "calibration_window"): 120,  # the window refills
                                   ("RiskControls", "conflict_resolution"): "HIGHEST_CONFIDENCE"})


def _bars(symbol: str, n: int) -> list[Bar]:
    """Minute bars whose drift and volatility change every 120 bars, so the rule-based regime changes."""
    rng = np.random.default_rng(11)
    k = np.arange(n) // 120
    drift = np.array([0.0004, 0.0, -0.0004, 0.0001])[k % 4]
    vol = np.array([0.0008, 0.0025, 0.0012])[k % 3]
    close = 100 * np.exp(np.cumsum(drift + rng.normal(0, 1, n) * vol))
    return [Bar(symbol, START + timedelta(minutes=i), c, c * (1 + v), c * (1 - v), c, 1_000.0)
            for i, (c, v) in enumerate(zip(close, vol, strict=True))]


@functools.cache
def _model() -> FittedEnsemble:
    bars = _bars("IDX", HISTORY)
    frame = pd.DataFrame({"timestamp": [b.ts for b in bars], "open": [b.open for b in bars],
                          "high": [b.high for b in bars], "low": [b.low for b in bars],
                          "close": [b.close for b in bars], "volume": [b.volume for b in bars]})
    return fit_model(frame, PARAMS, "IDX")


class _Source:
    """What the regime stage asks of a source: its symbols and its index (no exchange calendar: every bar)."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol

    def symbols(self) -> list[str]:
        return [self.symbol]

    def index_symbol(self) -> str:
        return self.symbol


class _Engine:
    """One symbol's regime stage on the shared store; `restart` replaces the stage as a new process would."""

    def __init__(self, url: str, symbol: str) -> None:
        self.ctx: EngineContext = build_context(load_settings(database_url=url), with_source=False, migrate=True,
                                                clock=ManualClock(START))
        self.ctx.source = _Source(symbol)  # type: ignore[assignment]  # the stage reads only these two members
        self.symbol, self.stage, self.bars = symbol, RegimeStage(), _bars(symbol, HISTORY + LIVE)
        self._store(self.bars[:HISTORY])
        self.new_model()

    def new_model(self) -> None:
        """Store the model again (a new id: a refit the stage puts in force at its next bar)."""
        with self.ctx.store.write() as s:
            model_store.save(s, _model(), self.symbol, None, model_key(PARAMS), EnsembleConfig.of(PARAMS).method,
                             START)

    def _store(self, bars: list[Bar]) -> None:
        with self.ctx.store.write() as s:
            s.add_all(BarRow(symbol=b.symbol, ts=b.ts, open=b.open, high=b.high, low=b.low, close=b.close,
                             volume=b.volume) for b in bars)

    def feed(self, start: int, stop: int) -> None:
        """Live bars [start, stop) in batches, each stored before the stage classifies it (as the market job)."""
        for i in range(HISTORY + start, HISTORY + stop, BATCH):
            batch = self.bars[i:min(i + BATCH, HISTORY + stop)]
            self._store(batch)
            self.stage.run(self.ctx, MarketUpdate(bars=batch))

    def restart(self) -> None:
        self.stage = RegimeStage()

    def verdicts(self) -> dict[datetime, tuple[dict[str, Any], int | None, int | None]]:
        """Per bar: the stored verdict, the effective regime and the parameter version."""
        with self.ctx.store.read() as s:
            rows = s.execute(select(RegimeSnapshot.ts, RegimeSnapshot.modules, RegimeSnapshot.effective_regime_id,
                                    RegimeSnapshot.param_version_id)
                             .where(RegimeSnapshot.symbol == self.symbol)).all()
        return {pd.Timestamp(r.ts).tz_convert(UTC).to_pydatetime() if pd.Timestamp(r.ts).tzinfo
                else r.ts.replace(tzinfo=UTC): (r.modules.get("ensemble") or {}, r.effective_regime_id,
                                                r.param_version_id) for r in rows}


def _equal(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The fields of two verdicts that differ (floats to 1e-12)."""
    bad = []
    for key in ("status", "regime_id", "ensemble_regime_id", "calibration", "votes", "rule_run", "ensemble_run"):
        if a.get(key) != b.get(key):
            bad.append(f"{key} {a.get(key)} != {b.get(key)}")
    for key in ("confidence", "calibrated_confidence", "disagreement", "uncertainty"):
        if abs(float(a[key]) - float(b[key])) > 1e-12:
            bad.append(f"{key} {a[key]} != {b[key]}")
    if a["weights"].keys() != b["weights"].keys() or any(abs(a["weights"][m] - b["weights"][m]) > 1e-12
                                                         for m in a["weights"]):
        bad.append(f"weights {a['weights']} != {b['weights']}")
    return bad


def _compare(ref: _Engine, got: _Engine, after: int) -> int:
    """Every live bar from `after` on: the same verdict and the same effective regime; the number compared."""
    want, have = ref.verdicts(), got.verdicts()
    compared = 0
    for bar in ref.bars[HISTORY + after:]:
        a, b = want[bar.ts], have[bar.ts]
        assert a[0] and b[0], f"no verdict at {bar.ts}"
        diff = _equal(a[0], b[0])
        assert not diff, f"bar {bar.ts}: {diff}"
        assert a[1] == b[1], f"bar {bar.ts}: effective regime {a[1]} continuous, {b[1]} after the restart"
        compared += 1
    return compared


def _apply(ctx: EngineContext, ps: ParamSet) -> int:
    version = apply_version(ctx.store, ps, "test:ensemble-state", "cli", clock=ctx.clock).version_id
    assert version is not None
    return version


@pytest.mark.slow  # two stages over 330 live bars, twice on each backend: about 50 s on a busy machine
@pytest.mark.parametrize("real_time", [True, False], ids=["refit-every-bar", "refit-with-the-model"])
def test_a_restarted_stage_gives_the_verdicts_of_one_that_never_stopped(any_db_url: str, real_time: bool) -> None:
    params = edited(PARAMS, {("ConfidenceCalibration", "real_time_calibration"): real_time})
    continuous, restarted = _Engine(any_db_url, "IDX"), _Engine(any_db_url, "IDY")
    _apply(continuous.ctx, params)
    for engine in (continuous, restarted):
        engine.feed(0, SWITCH)
        engine.new_model()  # a refit: the agreement restarts, and the calibrator (when not every bar) is refitted
        engine.feed(SWITCH, RESTART)
    restarted.restart()
    for engine in (continuous, restarted):
        engine.feed(RESTART, LIVE)
    first = continuous.verdicts()[continuous.bars[HISTORY + RESTART].ts][0]
    assert first["calibration"] in ("isotonic", "platt") and first["calibrated_confidence"] > 0.6  # not the floor
    assert first["weights"] != EnsembleConfig.of(PARAMS).weights  # adaptive weighting had moved them
    assert _compare(continuous, restarted, RESTART) == LIVE - RESTART


@pytest.mark.slow  # three stages over up to 330 live bars on each backend
def test_an_apply_keeps_the_state_unless_it_changes_the_ensemble(any_db_url: str,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    plain, applied, changed_run = (_Engine(any_db_url, s) for s in ("IDX", "IDY", "IDZ"))
    _apply(plain.ctx, PARAMS)
    plain.feed(0, LIVE)  # the reference: no apply while it runs
    applied.feed(0, RESTART)
    changed_run.feed(0, RESTART)
    risk = _apply(applied.ctx, edited(PARAMS, {("TradingRisk", "max_order_qty"): 500}))  # not the ensemble's
    with caplog.at_level(logging.INFO, logger="engine.regime_stage"):
        applied.feed(RESTART, LIVE)
    assert applied.stage.reloads == 2  # the apply did rebuild the stage
    assert not [r for r in caplog.records if "start fresh" in r.getMessage()]
    assert applied.verdicts()[applied.bars[HISTORY + RESTART].ts][2] == risk
    assert _compare(plain, applied, RESTART) == LIVE - RESTART
    # an apply that changes the calibration starts the calibrator and the agreement fresh, and says so
    changed = _apply(changed_run.ctx, edited(PARAMS, {("ConfidenceCalibration", "calibration_window"): 150}))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="engine.regime_stage"):
        changed_run.feed(RESTART, RESTART + BATCH)
    assert [r for r in caplog.records if f"parameter version {changed} changes" in r.getMessage()]
    fresh = changed_run.verdicts()[changed_run.bars[HISTORY + RESTART].ts][0]
    assert fresh["calibration"] == "none" and fresh["weights"] == pytest.approx(EnsembleConfig.of(PARAMS).weights)
    assert fresh["calibrated_confidence"] == pytest.approx(max(0.6, min(0.99, fresh["confidence"])))
    # a restart now rebuilds only from the verdicts stored under the changed settings (BATCH of them)
    changed_run.restart()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="engine.regime_stage"):
        changed_run.feed(RESTART + BATCH, RESTART + 2 * BATCH)
    assert [r for r in caplog.records if f"state rebuilt from {BATCH} stored verdicts" in r.getMessage()]
