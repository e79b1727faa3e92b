"""Child schedules of sliced parents: TWAP and VWAP targets, totals, participation, limit offsets."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import numpy as np
import pytest

from engine.execution.slicing import (
    SliceError,
    SliceSpec,
    build_schedule,
    child_limit,
    cumulative_targets,
    due_target,
    pov_target,
    vwap_weights,
)

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def test_twap_equal_slices_at_equal_times_and_the_total_is_exact():
    sched = build_schedule(D(1001), T0, SliceSpec("twap", 600, 4))
    assert [t for t, _ in sched] == [T0 + timedelta(seconds=150 * k) for k in range(4)]
    # 1001 x 1/4, 2/4, 3/4 rounded half up: 250.25 -> 250, 500.5 -> 501, 750.75 -> 751, then the total
    assert [q for _, q in sched] == [D(250), D(501), D(751), D(1001)]
    assert due_target(sched, T0 - timedelta(seconds=1)) == (-1, D(0))
    assert due_target(sched, T0 + timedelta(seconds=299)) == (1, D(501))


def test_vwap_follows_the_stored_volume_profile():
    # 5 days of 1-minute bars 14:30-14:39: minutes 0-4 trade 100 each, minutes 5-9 trade 300 each
    history = [(T0 - timedelta(days=d) + timedelta(minutes=m), 100.0 if m < 5 else 300.0)
               for d in range(1, 6) for m in range(10)]
    spec = SliceSpec("vwap", 600, 2)
    weights = vwap_weights(history, T0, spec)
    assert weights == pytest.approx([0.25, 0.75])  # 500 vs 1500 of 2000
    sched = build_schedule(D(1000), T0, spec, history)
    assert [q for _, q in sched] == [D(250), D(1000)]


def test_vwap_without_history_is_twap_and_unseen_minutes_count_at_the_mean():
    assert vwap_weights([], T0, SliceSpec("vwap", 600, 3)) == pytest.approx([1 / 3] * 3)
    history = [(T0 + timedelta(minutes=m), 200.0) for m in range(5)]  # only the first slice's minutes seen
    assert vwap_weights(history, T0, SliceSpec("vwap", 600, 2)) == pytest.approx([0.5, 0.5])


def test_cumulative_targets_always_add_up():
    rng = np.random.default_rng(3)
    for _ in range(50):
        w = rng.dirichlet(np.ones(int(rng.integers(1, 20))))
        total = D(int(rng.integers(1, 100_000)))
        cum = cumulative_targets(total, list(w))
        assert cum[-1] == total and all(b >= a for a, b in zip(cum, cum[1:], strict=False))
        assert all(abs(c - total * D(repr(float(s)))) <= D("0.5") for c, s in zip(cum[:-1], np.cumsum(w)[:-1], strict=True))


def test_participation_target_and_limit_offsets():
    assert pov_target(D(1000), D("0.1"), 4_567) == D(456)
    assert pov_target(D(1000), D("0.1"), 50_000) == D(1000)
    assert child_limit(D("100"), "buy", D(10)) == D("100.10")
    assert child_limit(D("100"), "sell", D(10)) == D("99.90")
    assert child_limit(D("33.333"), "buy", D(0)) == D("33.33")  # never rounded through the price
    assert child_limit(D("100"), "buy", None) is None


@pytest.mark.parametrize(("kwargs", "word"), [({"mode": "iceberg"}, "mode"), ({"duration_s": 0}, "duration_s"),
                                              ({"slices": 0}, "slices"), ({"mode": "pov"}, "participation"),
                                              ({"limit_offset_bps": D(-1)}, "limit_offset_bps")])
def test_bad_settings_name_what_is_wrong(kwargs, word):
    with pytest.raises(SliceError, match=word):
        SliceSpec(**{"mode": "twap", "duration_s": 60, **kwargs})


def test_fractional_or_empty_totals_are_refused():
    with pytest.raises(SliceError, match="whole"):
        build_schedule(D("10.5"), T0, SliceSpec("twap", 60, 2))


def test_execution_config_per_preset_and_its_errors(tmp_path):
    from engine.execution.modes import ExecutionConfigError, for_preset, parse_preset

    path = tmp_path / "execution.toml"
    path.write_text('[calm.stops]\ntrail_pct = 9\nmax_hold_seconds = 600\n'
                    '[calm.execution]\nmode = "vwap"\nduration_s = 900\nslices = 3\nmin_notional = 1000\n')
    calm = for_preset("calm", path)
    assert calm.stops is not None and calm.stops.trail_pct == D(9) and calm.stops.max_hold_seconds == 600.0
    assert calm.execution.slicing == SliceSpec("vwap", 900.0, 3) and calm.execution.min_notional == D(1000)
    other = for_preset("other", path)
    assert other.stops is None and other.execution.slicing is None
    with pytest.raises(ExecutionConfigError, match=r"\[x.stops\]: unknown key\(s\) trail"):
        parse_preset({"x": {"stops": {"trail": 5}}}, "x")
    with pytest.raises(ExecutionConfigError, match="participation"):
        parse_preset({"x": {"execution": {"mode": "pov"}}}, "x")
