"""Option chains survive the store's blob format exactly; duplicate bars are ignored, not doubled."""
from __future__ import annotations

import numpy as np

from engine.market.simulated import SimulatedMarket
from engine.store.writes import CHAIN_COLUMNS, pack_chain, unpack_chain


def test_chain_blob_round_trip_is_exact() -> None:
    chain = SimulatedMarket(seed=5).poll().chains[0]
    back = unpack_chain(chain.underlying, chain.ts, chain.spot, pack_chain(chain))
    assert (back.underlying, back.ts, back.spot) == (chain.underlying, chain.ts, chain.spot)
    for name in CHAIN_COLUMNS:
        original, restored = np.asarray(getattr(chain, name)), getattr(back, name)
        assert restored.dtype == original.dtype and np.array_equal(restored, original), name
    assert len(pack_chain(chain)) < sum(np.asarray(getattr(chain, n)).nbytes for n in CHAIN_COLUMNS)
