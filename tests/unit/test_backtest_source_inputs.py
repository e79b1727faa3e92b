"""The Backtest form shows only the input its data source reads: the CSV folder for "CSV folder", the upload
for "uploaded CSV", neither for the stored history (or anything unknown)."""
from __future__ import annotations

import pytest

from webapp import backtest_page_data as data

SHOWN: dict[str, str] = {}
HIDDEN = {"display": "none"}


@pytest.mark.parametrize(("source", "csv_dir", "upload"), [
    ("stored", HIDDEN, HIDDEN),
    ("csv", SHOWN, HIDDEN),
    ("upload", HIDDEN, SHOWN),
    (None, HIDDEN, HIDDEN),
    ("../etc", HIDDEN, HIDDEN),
    (["csv"], HIDDEN, HIDDEN),
])
def test_each_source_shows_only_its_own_input(source: object, csv_dir: dict, upload: dict) -> None:
    assert data.source_input_styles(source) == (csv_dir, upload)


def test_the_styles_returned_are_fresh_dicts() -> None:
    first = data.source_input_styles("csv")
    first[0]["display"] = "none"
    assert data.source_input_styles("csv")[0] == SHOWN
