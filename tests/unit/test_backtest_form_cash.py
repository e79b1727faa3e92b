"""The Backtest form's starting cash: the field sends what was typed and the message says what is wrong with
it (missing, not a number, or which bound it breaks, quoting the value) instead of one "at least 100, got 0"."""
from __future__ import annotations

import pytest

from engine.backtest.inputs import BacktestError
from webapp import backtest_jobs as jobs

BOUNDS = "a number from 100 to 1,000,000,000,000"


@pytest.mark.parametrize("typed", [None, "", "   "])
def test_empty_cash_asks_for_one(typed: object) -> None:
    with pytest.raises(BacktestError) as err:
        jobs.parse_cash(typed)
    assert str(err.value) == f"enter the starting cash ({BOUNDS})"


@pytest.mark.parametrize(("typed", "message"), [
    ("-5000", f"starting cash -5000 is below the minimum of 100; enter {BOUNDS}"),
    ("50", f"starting cash 50 is below the minimum of 100; enter {BOUNDS}"),
    (50, f"starting cash 50 is below the minimum of 100; enter {BOUNDS}"),
    ("1e13", f"starting cash 1e13 is above the maximum of 1,000,000,000,000; enter {BOUNDS}"),
    (1e13, f"starting cash 10,000,000,000,000 is above the maximum of 1,000,000,000,000; enter {BOUNDS}"),
    ("e", f"starting cash 'e' is not a number; enter {BOUNDS}"),
    ("nan", f"starting cash 'nan' is not a number; enter {BOUNDS}"),
    ("inf", f"starting cash 'inf' is not a number; enter {BOUNDS}"),
    ("1,5", f"starting cash '1,5' is not a number; enter {BOUNDS}"),
    (True, f"starting cash 'True' is not a number; enter {BOUNDS}"),
])
def test_bad_cash_names_the_problem_and_the_value(typed: object, message: str) -> None:
    with pytest.raises(BacktestError) as err:
        jobs.parse_cash(typed)
    assert str(err.value) == message


@pytest.mark.parametrize(("typed", "cash"), [
    ("100", 100.0), (100, 100.0), (" 250000 ", 250_000.0), ("1,000,000.50", 1_000_000.5), (1_000_000, 1e6),
    ("1e12", 1e12),
])
def test_good_cash_is_taken_as_typed(typed: object, cash: float) -> None:
    assert jobs.parse_cash(typed) == cash


def test_build_spec_gives_the_cash_message_before_loading_any_data() -> None:
    with pytest.raises(BacktestError, match=r"^starting cash -5000 is below the minimum of 100;"):
        jobs.build_spec({"source": "stored", "cash": "-5000"}, None, None, None)  # type: ignore[arg-type]
