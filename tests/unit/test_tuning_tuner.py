"""A tuning run on constructed history: inside the workbook's limits, validated out of sample, reproducible."""
from __future__ import annotations

import pytest

from engine.params import load_schema
from engine.params.typed import Parameters
from engine.tuning.edit import kv_value
from engine.tuning.tuner import search_space, tune
from tests.tuning_fixtures import SPACE, history, poor_version

TRIALS = 6


@pytest.fixture(scope="module")
def run():  # type: ignore[no-untyped-def]
    bars, truth, symbol = history()
    return tune(poor_version(), bars, truth, trials=TRIALS, seed=11, symbol=symbol, only=SPACE)


def test_the_proposal_stays_inside_the_workbook_limits(run) -> None:  # type: ignore[no-untyped-def]
    cur = poor_version()
    t = Parameters(cur).adaptive_tuning
    bounds = {(s.name, sec.key, f.name): (f.min, f.max) for s, sec, f in load_schema().iter_fields()}
    assert 1 <= len(run.changes) <= t.max_simultaneous_changes == 3
    for c in run.changes:
        lo, hi = bounds[c.key]
        assert lo <= c.new <= hi, c.text()
        assert abs(c.new - c.old) <= abs(c.old) * t.parameter_expansion_limit + 1e-9, c.text()
        assert float(kv_value(run.candidate, c.key)) == pytest.approx(c.new)  # type: ignore[arg-type]
    assert run.trials == TRIALS


def test_it_is_validated_on_the_held_out_tail_only(run) -> None:  # type: ignore[no-untyped-def]
    bars, _truth, _ = history()
    cut = bars["timestamp"].iloc[int(len(bars) * (1 - 0.2))]  # AdaptiveTuning validation_split 0.2
    folds = run.validation.folds
    assert len(folds) >= 2 and (folds["start"] >= cut).all()
    assert {c.against for c in run.validation.comparisons} == {"current version", "buy-and-hold", "cash"}
    # the gain is the folds' mean objective ratio, recomputed here
    assert run.validation.gain == pytest.approx(folds["candidate"].mean() / folds["current"].mean() - 1)
    assert run.beats == (run.validation.gain >= 0.05)


def test_same_seed_same_proposal(run) -> None:  # type: ignore[no-untyped-def]
    bars, truth, symbol = history()
    again = tune(poor_version(), bars, truth, trials=TRIALS, seed=11, symbol=symbol, only=SPACE)
    assert [c.text() for c in again.changes] == [c.text() for c in run.changes]
    assert again.candidate.content_hash == run.candidate.content_hash


def test_search_space_respects_expansion_and_bounds() -> None:
    cur = poor_version()
    for key, lo, hi, _integer in search_space(cur):
        v = float(kv_value(cur, key))  # type: ignore[arg-type]
        assert v - abs(v) * 0.2 - 1e-9 <= lo <= v <= hi <= v + abs(v) * 0.2 + 1e-9
