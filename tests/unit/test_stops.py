"""Protective exit arithmetic on constructed paths: trailing (percent, ATR), stop-loss, take-profit, gaps, time.

Every expected level and exit price below is worked out by hand in the comments; one test also
checks the percent trail against a plain numpy running maximum on a random path."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import numpy as np
import pytest

from engine.execution.stops import (
    PriceBar,
    StopError,
    StopSpec,
    StopState,
    evaluate_bar,
    evaluate_path,
    protective_level,
)

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def bars(rows: list[tuple[float, float, float, float]], minutes: int = 1) -> list[PriceBar]:
    return [PriceBar(T0 + timedelta(minutes=minutes * (i + 1)), *(D(str(x)) for x in r)) for i, r in enumerate(rows)]


def long(entry: str = "100", atr: str | None = None) -> StopState:
    return StopState(1, D(entry), D(entry), T0, D(atr) if atr else None)


def test_trailing_percent_follows_the_high_and_triggers_at_the_level():
    path = bars([(100, 105, 99, 104),      # level 90 (100 x 0.9); mark -> 105
                 (104, 110, 103, 109),     # level 94.5; mark -> 110
                 (109, 112, 100, 101),     # level 99: low 100 stays above; mark -> 112
                 (101, 102, 100.5, 100.8)])  # level 100.8: low 100.5 reaches it, open 101 above -> exit at 100.8
    state, trigger, i = evaluate_path(StopSpec(trail_pct=D(10)), long(), path)
    assert i == 3 and trigger is not None
    assert trigger.kind == "trailing" and trigger.level == D("100.8") and trigger.price == D("100.8")
    assert not trigger.gap and state.extreme == D(112)


def test_a_gap_through_the_trailing_stop_exits_at_the_open():
    path = bars([(100, 105, 99, 104), (104, 110, 103, 109), (109, 112, 100, 101),
                 (95, 96, 94, 95)])  # opens at 95, below the 100.8 level: the exit cannot be better than 95
    _, trigger, i = evaluate_path(StopSpec(trail_pct=D(10)), long(), path)
    assert i == 3 and trigger is not None and trigger.gap
    assert trigger.level == D("100.8") and trigger.price == D(95)


def test_short_trailing_stop_mirrors_the_long():
    # short at 50, trail 4%: mark is the low. bar1 low 48 -> mark 48, level 49.92; bar2 high 50 >= 49.92
    path = bars([(50, 50.5, 48, 48.5), (48.6, 50, 48.4, 49.9)])
    start = StopState(-1, D(50), D(50), T0)
    assert protective_level(StopSpec(trail_pct=D(4)), start) == (D(52), "trailing")
    _, trigger, i = evaluate_path(StopSpec(trail_pct=D(4)), start, path)
    assert i == 1 and trigger is not None and trigger.level == D("49.92") and trigger.price == D("49.92")


def test_atr_multiple_trail_and_the_tighter_level_binds():
    # ATR 2, 3 ATRs: level = mark - 6. Stop-loss 5% of 100 = 95 binds until the mark passes 101.
    spec = StopSpec(stop_loss_pct=D(5), trail_atr_mult=D(3))
    state = long(atr="2")
    assert protective_level(spec, state) == (D(95), "stop_loss")  # trail 94 is looser
    state, trigger = evaluate_bar(spec, state, bars([(100, 110, 99, 109)])[0])
    assert trigger is None and protective_level(spec, state) == (D(104), "trailing")
    _, trigger = evaluate_bar(spec, state, bars([(108, 108, 103.5, 104)])[0])
    assert trigger is not None and trigger.kind == "trailing" and trigger.price == D(104)


def test_take_profit_and_the_stop_wins_inside_one_bar():
    spec = StopSpec(stop_loss_pct=D(2), take_profit_pct=D(3))  # 98 and 103 around 100
    _, trigger = evaluate_bar(spec, long(), bars([(100, 103.5, 99, 103)])[0])
    assert trigger is not None and (trigger.kind, trigger.price) == ("take_profit", D(103))
    _, trigger = evaluate_bar(spec, long(), bars([(100, 104, 97, 100)])[0])  # both reached: assume the worse
    assert trigger is not None and (trigger.kind, trigger.price) == ("stop_loss", D(98))
    _, trigger = evaluate_bar(spec, long(), bars([(105, 106, 104, 105)])[0])  # gap up through the target
    assert trigger is not None and trigger.kind == "take_profit" and trigger.price == D(105) and trigger.gap


def test_time_stop_exits_at_the_close_once_held_long_enough():
    spec = StopSpec(max_hold_seconds=3600)
    path = bars([(100, 101, 99, 100), (100, 101, 99, 100.5), (100.5, 101, 100, 100.7)], minutes=30)
    _, trigger, i = evaluate_path(spec, long(), path)  # bars at +30 and +60 minutes: the second is the hour
    assert i == 1 and trigger is not None and (trigger.kind, trigger.price, trigger.level) == ("time", D("100.5"), None)


def test_percent_trail_matches_a_numpy_running_maximum_on_a_random_path():
    rng = np.random.default_rng(17)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 400)))
    high, low = close * (1 + rng.uniform(0, 0.01, 400)), close * (1 - rng.uniform(0, 0.01, 400))
    opens = np.r_[100.0, close[:-1]]
    high, low = np.maximum(high, opens), np.minimum(low, opens)
    rows = [(round(o, 4), round(h, 4), round(lo, 4), round(c, 4)) for o, h, lo, c in zip(opens, high, low, close, strict=True)]
    path = bars(rows)
    o, h, lo = (np.array([float(r[k]) for r in rows]) for k in (0, 1, 2))
    mark = np.maximum.accumulate(np.r_[100.0, h[:-1]])  # the high-water mark before each bar
    level = mark * 0.95
    expected = int(np.argmax(lo <= level))
    assert lo[expected] <= level[expected]
    _, trigger, i = evaluate_path(StopSpec(trail_pct=D(5)), long(), path)
    assert i == expected and trigger is not None
    want = o[expected] if o[expected] <= level[expected] else level[expected]
    assert float(trigger.price) == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize(("field", "value"), [("stop_loss_pct", D(0)), ("trail_pct", D(100)), ("trail_atr_mult", D(-1)),
                                              ("take_profit_pct", D(0)), ("max_hold_seconds", 0.0)])
def test_out_of_range_settings_name_the_field(field, value):
    with pytest.raises(StopError, match=field):
        StopSpec(**{field: value})
