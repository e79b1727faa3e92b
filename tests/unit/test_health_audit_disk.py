"""The disk check grades what df shows, used / (used + free): ext4 keeps reserved blocks (5 % by default) that a
non-root service cannot write, so a disk full for the service read "18 % used" as used / total (defect).
Numbers as shutil.disk_usage gives them (free: the blocks available to a non-root user)."""
from __future__ import annotations

import pytest

from engine.health.host_checks import grade_disk_usage

GB = 10**9


@pytest.mark.parametrize(("total", "used", "free", "expected_pct", "status"), [
    # 64 GB with 20 % reserved, 51.2 GB used: full for the service (df: 100 %); used / total said 80 %
    (64 * GB, 51.2 * GB, 0, 100.0, "unhealthy"),
    # 100 GB, 5 GB reserved, 86 GB used, 9 GB free: df 86 / 95 = 90.5 %; used / total said 86 %
    (100 * GB, 86 * GB, 9 * GB, 86 / 95 * 100, "degraded"),
    # 100 GB, 5 GB reserved, 92.5 GB used, 2.5 GB free: 92.5 / 95 = 97.4 %; used / total said 92.5 %
    (100 * GB, 92.5 * GB, 2.5 * GB, 92.5 / 95 * 100, "unhealthy"),
    (100 * GB, 40 * GB, 55 * GB, 40 / 95 * 100, "healthy"),
    (0, 0, 0, 100.0, "unhealthy"),  # nothing usable at all
])
def test_disk_usage_is_graded_as_df_shows_it(total: float, used: float, free: float, expected_pct: float,
                                            status: str) -> None:
    got_status, used_pct = grade_disk_usage(int(total), int(used), int(free))
    assert used_pct == pytest.approx(expected_pct, abs=1e-6)
    assert got_status == status
