"""RegimeStability regime_momentum (engine/regime/dynamics.py): hand-computed shares of the recent labels."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine.params import default_params

P = default_params()


def test_regime_momentum_by_hand() -> None:
    from engine.regime import dynamics as dy

    # last 6 labels [2, 2, 1 | 1, 1, 1]: regime 1 holds 3/3 of the newer half and 1/3 of the older -> +2/3
    assert dy.regime_momentum([0, 0, 2, 2, 1, 1, 1, 1], 1, bars=6) == pytest.approx(2 / 3)
    # odd window [1, 1 | 0, 0, 1]: newer 1/3, older 2/2 -> -2/3 (losing ground)
    assert dy.regime_momentum([1, 1, 0, 0, 1], 1, bars=5) == pytest.approx(1 / 3 - 1)
    assert dy.regime_momentum([1], 1) == 0.0
    cfg = dy.DynamicsConfig.of(P)
    assert cfg.momentum  # RegimeStability regime_momentum TRUE in the reference workbook
    labels = np.array([0, 0, 0, 1, 1, 0, 0, 0, 0, 1])
    recent = [0] * 30 + [1] * 5  # last 20: fifteen 0s then five 1s -> newer half 5/10, older 0/10
    got = dy.current(cfg, dy.history_dynamics(cfg, labels, np.zeros(10), (0, 1, 2)), recent)
    assert got["momentum"] == pytest.approx(0.5) and got["momentum_bars"] == 20
    off = dy.current(dataclasses.replace(cfg, momentum=False), dy.history_dynamics(cfg, labels, np.zeros(10), (0, 1, 2)),
                     recent)
    assert "momentum" not in off
