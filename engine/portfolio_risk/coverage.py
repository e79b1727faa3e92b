"""Names whose returns do not cover the risk window: measured on the returns they have, never on zeros.

A name listed after the window began (or held without any stored bar) has missing returns (NaN). They used to
count as 0 returns, which made such a name look nearly riskless (audit 2, defect 3). Now:

* A name with at least `min_returns` real returns (or every return of a shorter window: the report's note then
  says VaR waits for more) is measured on its own rows (moments.py: pairwise-complete covariance).
* A name with fewer ("short history", including none) gets a conservative PROXY sigma: the highest of its own
  sample sigma and every measured peer's in the history (the book's names and the index), or
  NO_HISTORY_DAILY_SIGMA a day when nothing is measured. Its beta is taken as 1 (the market's; 0 without an
  index), its parametric risk adds to the book's at correlation 1 against the book, and the report's note names it.
  A proxy was chosen over refusing new buys: a refusal would block every order in a newly listed or newly
  added name until MIN_RETURNS bars are stored (hedges and reductions of other names included, while the check
  judges the whole book), and would leave an existing position in such a name unmeasured by the risk cycle;
  the proxy keeps every limit measuring and errs towards more risk, so an order too big for it is refused by
  the stress / CVaR limit with the scenario named.
* A name whose closes never moved over the window (a stale feed or a halted stock: every return 0) has no
  measurable risk, not zero risk: it is proxied like a short history and its 0 returns count as missing (`flat`).
  Measured as it stood, a halted $30,000 position added nothing to VaR, CVaR or any stress scenario (audit 42).
* For the historical VaR/CVaR and the worst-day replays, a missing return is filled by `fill`: the name moves by
  its (proxy) sigma times the standardised move of the measured book (else the index) in the direction that
  loses money with the book, so a missing return never diversifies the book.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

NO_HISTORY_DAILY_SIGMA = 0.05  # 5% a day, a volatile single stock's: only when no name in the history is measured
FLAT_SD = 1e-12  # a sample sigma this small per bar is closes that never moved (float noise of a PSD fix at most)


@dataclass(frozen=True, slots=True)
class Coverage:
    short: np.ndarray  # per name: fewer than min_returns real returns and fewer than the window's (or none)
    sd: np.ndarray  # per name, one bar: its own sigma (measured) or its proxy sigma (short)
    note: str  # names the short names, for the report's note ("" when none)
    flat: np.ndarray  # per name: returns all 0 over the window (closes never moved); also short

    @property
    def measured(self) -> np.ndarray:
        return ~self.short


def assess(symbols: Sequence[str], counts: np.ndarray, own_sd: np.ndarray, window: int, index_sd: float | None,
           index_count: int, min_returns: int, bars_per_day: float) -> Coverage:
    """Which names have too short a history for their own sigma, and the sigma each is measured at."""
    counts = np.asarray(counts, dtype=int)
    own = np.where(counts >= 2, np.asarray(own_sd, dtype=float), 0.0)
    flat = (counts >= 2) & ~(own > FLAT_SD)  # closes that never moved: not measurable, never 0 risk
    too_few = (counts < min_returns) & ((counts < window) | (counts == 0))  # no return at all: never 0 risk
    short = too_few | flat
    if not short.any():
        return Coverage(short, own, "", flat)
    peers = list(own[~short & (counts >= 2)])
    if index_sd is not None and index_count >= 2 and (index_count >= min_returns or index_count >= window):
        peers.append(float(index_sd))
    measured = bool(peers) and max(peers) > 0
    peer = max(peers) if measured else NO_HISTORY_DAILY_SIGMA / np.sqrt(bars_per_day)
    sd = np.where(short, np.maximum(own, peer), own)
    rows = list(zip(symbols, counts.tolist(), too_few.tolist(), flat.tolist(), strict=True))
    listed = ", ".join(f"{s}: {c} of {window} returns" for s, c, few, _ in rows if few)
    still = ", ".join(f"{s} (flat over {c} returns)" for s, c, few, f in rows if f and not few)
    parts = ([f"not enough price history for {listed}"] if listed else []) + (
        [f"closes did not move for {still}: stale or halted, no measurable risk (not zero risk)"]
        if still else [])
    proxy = "the highest of its own and its measured peers'" if measured else \
        f"no name is measured: {NO_HISTORY_DAILY_SIGMA:.0%} a day"
    beta = "beta 1 to the index" if index_sd is not None else "no index"
    note = f"{'; '.join(parts)}; risk taken at a proxy sigma ({proxy}), {beta}"
    return Coverage(short, sd, note, flat)


def fill(r: np.ndarray, values: np.ndarray, sd: np.ndarray, measured: np.ndarray,
         index: np.ndarray | None) -> np.ndarray:
    """`r` (T x names) with each missing return set to sign(value) x sd x z_t, z the standardised P&L of the
    measured names (else the index's return, else the whole book's real P&L): the missing rows lose money
    exactly when the book does. A name with no position (value 0) gets 0. `r` itself when nothing is missing."""
    miss = ~np.isfinite(r)
    if not miss.any():
        return r
    w = np.asarray(values, dtype=float)
    real = np.where(miss, 0.0, r)
    z = _standardised(real[:, measured] @ w[measured])
    if z is None and index is not None:
        z = _standardised(np.nan_to_num(np.asarray(index, dtype=float), nan=0.0))
    if z is None:
        z = _standardised(real @ w)
    if z is None:
        z = np.zeros(r.shape[0])
    proxy = z[:, None] * (np.sign(w) * np.asarray(sd, dtype=float))[None, :]
    return np.where(miss, proxy, real)


def _standardised(x: np.ndarray) -> np.ndarray | None:
    """(x - mean) / sd (ddof 1), None when x is flat or has fewer than 2 points."""
    if x.size < 2:
        return None
    sd = float(np.std(x, ddof=1))
    return (x - x.mean()) / sd if sd > 0 else None
