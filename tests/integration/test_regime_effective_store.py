"""The stored effective regime on SQLite and PostgreSQL: constructed verdicts under each handling go through
the regime stage's snapshot_row into regime_snapshots, and the one reader (engine.store.current_regime)
gives back the rule-based regime beside the regime the engine acts on, with status and reason."""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from engine.params import default_params
from engine.params.typed import Parameters
from engine.regime.classifier import RegimeClassifier
from engine.regime.ensemble.config import EnsembleConfig
from engine.regime.ensemble.effective import of_config
from engine.regime.testing import ohlcv
from engine.regime.types import RegimeOutput
from engine.regime_stage import snapshot_row
from engine.store.current_regime import CurrentRegime, current_regime, effective_names, uncertain_note
from engine.store.db import Store
from engine.store.models import RegimeSnapshot
from engine.store.regime_queries import latest_regime

PS = default_params()
CFG = EnsembleConfig.of(PS)
NAMES = {int(r.regime_id): str(r.regime_name) for r in Parameters(PS).regime_classification.rows}


@pytest.fixture(scope="module")
def output() -> RegimeOutput:
    rng = np.random.default_rng(4)
    close = 100 * np.exp(np.cumsum(0.0004 * rng.standard_normal(300)))
    return [o for o in RegimeClassifier(PS, "IDX").update_many(ohlcv(close)) if not o.warmup][-1]


def _other(rule: int) -> int:
    return next(r for r in sorted(NAMES) if r != rule)


def _verdict(status: str, ens: int) -> dict[str, Any]:
    return {"status": status, "ensemble_regime_id": ens, "confidence": 0.6, "calibrated_confidence": 0.6,
            "rule_run": 5, "ensemble_run": 50, "reason": f"constructed {status}"}


def _store_and_read(st: Store, out: RegimeOutput, cfg: EnsembleConfig,
                    verdict: dict[str, Any] | None) -> CurrentRegime | None:
    with st.write() as s:
        s.add(snapshot_row(out, None, verdict, of_config(cfg, out.regime_id, out.regime_name, float(out.confidence),
                                                         verdict)))
    with st.read() as s:
        return current_regime(s, out.symbol)


def test_each_status_and_handling_is_stored(store: Store, output: RegimeOutput) -> None:
    rule, ens = output.regime_id, _other(output.regime_id)
    cur = _store_and_read(store, output, CFG, None)  # before the first refit: the rules, and it says so
    assert cur is not None and (cur.regime_id, cur.status) == (rule, "no_model") and "no ensemble model" in cur.reason
    for status, ens_id in (("agree", rule), ("rules", rule)):
        cur = _store_and_read(store, output, CFG, _verdict(status, ens_id))
        assert cur is not None and (cur.regime_id, cur.regime_name, cur.status) == (rule, output.regime_name, status)
    for handling, want in (("CONSERVATIVE", None), ("MODERATE", rule), ("AGGRESSIVE", ens)):
        cfg = dataclasses.replace(CFG, uncertainty_handling=handling)
        cur = _store_and_read(store, output, cfg, _verdict("uncertain", ens))
        assert cur is not None and (cur.regime_id, cur.status) == (want, "uncertain")
        assert cur.regime_name == (None if want is None else NAMES[want])
        assert (cur.rule_regime_id, cur.rule_regime_name) == (rule, output.regime_name)  # the rules' answer kept
        assert (uncertain_note(cur) is not None) is (want is None) and "constructed uncertain" in cur.reason
    # a firm conflict: the ensemble held 50 bars, the rules 5 -> MOST_STABLE the ensemble's, MOST_RECENT the rules'
    for resolution, want in (("MOST_STABLE", ens), ("MOST_RECENT", rule)):
        cfg = dataclasses.replace(CFG, conflict_resolution=resolution)
        cur = _store_and_read(store, output, cfg, _verdict("ensemble", ens))
        assert cur is not None and (cur.regime_id, cur.status) == (want, "ensemble") and resolution in cur.reason
    cur = _store_and_read(store, output, dataclasses.replace(CFG, enabled=False), _verdict("ensemble", ens))
    assert cur is not None and (cur.regime_id, cur.status) == (rule, "disabled")
    with store.read() as s:
        rows = list(s.scalars(select(RegimeSnapshot)))
        latest = latest_regime(s, output.symbol)
    assert len(rows) == 9 and {r.regime_id for r in rows} == {rule}  # regime_id stays the rule-based answer
    assert latest is not None and latest["regime_name"] == output.regime_name
    assert latest["effective"]["status"] == "disabled" and latest["effective"]["rule_regime_id"] == rule


def test_a_snapshot_stored_before_the_effective_columns_reads_as_the_rules(store: Store, output: RegimeOutput) -> None:
    with store.write() as s:
        row = snapshot_row(output, None)
        row.effective_regime_id = row.effective_regime_name = row.regime_status = row.regime_reason = None
        s.add(row)
    with store.read() as s:
        cur = current_regime(s)
    assert cur is not None and (cur.regime_id, cur.regime_name, cur.status) == (output.regime_id, output.regime_name,
                                                                                 "legacy")


def test_a_backtests_regime_column_is_the_effective_regime(store: Store, output: RegimeOutput) -> None:
    ens = _other(output.regime_id)
    aggressive = dataclasses.replace(CFG, uncertainty_handling="AGGRESSIVE")
    _store_and_read(store, output, CFG, _verdict("uncertain", ens))  # CONSERVATIVE: none
    _store_and_read(store, output, aggressive, _verdict("uncertain", ens))
    _store_and_read(store, output, CFG, None)
    with store.read() as s:
        got = [name for _, name in effective_names(s, output.symbol)]
        assert effective_names(s, "OTHER") == []
    assert got == ["uncertain", NAMES[ens], output.regime_name]
