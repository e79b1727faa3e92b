"""Money and numbers read the same on every page: -$5.77, -$253,512.50, a dash when unknown."""
from __future__ import annotations

import math

import pytest

from components.formatting import money, number


@pytest.mark.parametrize(("value", "decimals", "shown"), [
    (-5.77, 2, "-$5.77"),
    (-253512.5, 2, "-$253,512.50"),
    (1234567.891, 2, "$1,234,567.89"),
    (0.0, 2, "$0.00"),
    (-0.001, 2, "$0.00"),
    (1234.5, 0, "$1,234"),
    (None, 2, "—"),
    (math.nan, 2, "—"),
])
def test_money(value: float | None, decimals: int, shown: str) -> None:
    assert money(value, decimals) == shown


def test_number_has_thousands_and_a_dash_for_nan() -> None:
    assert number(-1234.5) == "-1,234.50"
    assert number(math.nan) == "—"
