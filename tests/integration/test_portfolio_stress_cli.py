"""`python -m engine.portfolio_risk stress --closes FILE`: the stored book under the worst days of a supplied
history (hand-computed P&L), on SQLite and PostgreSQL; a bad file gets a message naming the cell."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.portfolio_risk.cli import main
from tests.integration.test_portfolio_limits import _hold, ctx  # noqa: F401 - the fixture

CSV = """date,IDX,AAA,ZZZ
2008-10-06,1000,50,20
2008-10-07,940,44,21
2008-10-08,950,45,19
2008-10-09,893,40.5,19
"""


def test_worst_supplied_days_replayed_on_the_stored_book(ctx, tmp_path: Path) -> None:  # noqa: F811
    _hold(ctx, AAA=300, CCC=-100)  # at the store's last close, 100 each
    path = tmp_path / "crash.csv"
    path.write_text(CSV)
    out = io.StringIO()
    assert main(["stress", "--closes", str(path), "--index", "IDX", "--worst", "2",
                 "--database-url", ctx.store.url], out) == 0
    text = out.getvalue()
    # IDX: -6% on 10-07, -6% on 10-09 (893/950); AAA: 44/50-1 = -12%, 40.5/45-1 = -10%.
    # CCC is not in the file: no return there is not a 0% return. It moves at the highest sigma the file measures
    # (AAA's or IDX's) times the book's standardised move, against the book (engine/portfolio_risk/coverage.py).
    lines = [line for line in text.splitlines() if line.startswith("Worst day")]
    assert [line.split(" (")[0] for line in lines] == ["Worst day 2008-10-07", "Worst day 2008-10-09"]
    aaa = np.array([44 / 50, 45 / 44, 40.5 / 45]) - 1
    idx = np.array([940 / 1000, 950 / 940, 893 / 950]) - 1
    proxy = max(np.std(aaa, ddof=1), np.std(idx, ddof=1))
    z = (aaa - aaa.mean()) / np.std(aaa, ddof=1)  # the measured book is AAA alone (long 30,000)
    ccc = -100 * 100 * -proxy * z  # short 10,000 of CCC, moving -proxy x z: loses when AAA falls
    assert ccc[0] < 0 and ccc[2] < 0
    assert lines[0].split()[-1] == f"{300 * 100 * -0.12 + ccc[0]:,.0f}"
    assert lines[1].split()[-1] == f"{300 * 100 * -0.10 + ccc[2]:,.0f}"
    assert "Index -10%, vol x2" in text and "Gap at the open" in text  # too few returns for VaR: none printed
    assert "VaR" not in text


@pytest.mark.parametrize(("content", "message"), [
    ("date,AAA\n2008-10-06,50\n2008-10-07,abc\n2008-10-08,51\n", "row 3, column 'AAA': 'abc' is not a price"),
    ("date,AAA\nyesterday,50\ntoday,51\ntomorrow,52\n", "the first column must be dates"),
    ("date,AAA\n2008-10-06,50\n", "at least 3 rows"),
])
def test_a_bad_file_is_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    out = io.StringIO()
    assert main(["stress", "--closes", str(path), "--database-url", "sqlite:///unused.db"], out) == 1
    assert message in out.getvalue()


def test_module_entry_point_runs(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    proc = subprocess.run([sys.executable, "-m", "engine.portfolio_risk", "stress", "--closes", str(missing)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1 and f"{missing}: no such file" in proc.stdout
