"""Which Dash callback requests are an open page's own polling (no idle renewal) and which are a person's."""
from __future__ import annotations

import pytest

from webapp.auth.sessions import is_polling

PATTERN = '{"index":1,"type":"param-poll"}.n_intervals'


@pytest.mark.parametrize(("args", "changed", "polling"), [
    ({}, ["banner-interval.n_intervals"], True),
    ({}, ["overview-interval.n_intervals", PATTERN], True),
    ({}, ["banner-interval.n_intervals", "banner-kill-button.n_clicks"], False),  # a click in the same frame
    ({}, ["banner-kill-button.n_clicks"], False),
    ({}, ["trading-qty.value"], False),
    ({}, [], False),  # an initial call follows a page load
    ({"cacheKey": "k", "job": "j"}, ["regime-whatif-run.n_clicks"], True),  # a background callback's progress poll
])
def test_is_polling(args: dict[str, str], changed: list[str], polling: bool) -> None:
    assert is_polling(args, {"output": "x.children", "changedPropIds": changed}) is polling


def test_a_body_without_triggers_counts_as_a_person() -> None:
    assert is_polling({}, None) is False
    assert is_polling({}, {"changedPropIds": "banner-interval.n_intervals"}) is False  # not a list: not believed
