"""The planner page shows every score part the scoring gives in percent of equity with a percent sign."""
from __future__ import annotations

import pytest

from webapp.planner_views import score_value


@pytest.mark.parametrize("part", ["exposure_gap", "shortfall", "scored_return", "scored_risk", "return"])
def test_percent_parts_of_the_scoring_show_a_percent_sign(part: str) -> None:
    assert score_value(part, 1.5) == "1.50%"  # three significant digits


def test_the_total_is_a_plain_number() -> None:
    assert score_value("total", 1.5) == "+1.50"  # signed, as the page shows the total
