"""Where the book's exposure sits: by name, group and side; how its names move together; its beta.

The largest correlated cluster: average-linkage hierarchical clustering (scipy) on the distance
1 - correlation, cut at 1 - threshold, so every name in a cluster is on average at least
`threshold` correlated with the rest. Its size is the cluster's |net| exposure: names that move
together add up when held the same way and offset when one hedges the other.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

UNGROUPED = "other"


@dataclass(frozen=True, slots=True)
class GroupExposure:
    group: str
    long: float
    short: float  # a positive number: the short side's market value

    @property
    def gross(self) -> float:
        return self.long + self.short

    @property
    def net(self) -> float:
        return self.long - self.short


@dataclass(frozen=True, slots=True)
class Cluster:
    symbols: tuple[str, ...]
    net_exposure: float  # |sum of signed values|

    @property
    def size(self) -> int:
        return len(self.symbols)


def group_of(symbol: str, groups: Mapping[str, str]) -> str:
    return groups.get(symbol, UNGROUPED)


def by_group(symbols: Sequence[str], values: np.ndarray, groups: Mapping[str, str]) -> list[GroupExposure]:
    """Long and short market value per group, largest gross first."""
    acc: dict[str, list[float]] = {}
    for sym, v in zip(symbols, np.asarray(values, dtype=float).tolist(), strict=True):  # Python floats: no numpy scalars
        slot = acc.setdefault(groups.get(sym, UNGROUPED), [0.0, 0.0])
        slot[0 if v >= 0 else 1] += abs(v)
    out = [GroupExposure(g, lo, sh) for g, (lo, sh) in acc.items()]
    return sorted(out, key=lambda e: (-e.gross, e.group))


def by_side(values: np.ndarray) -> dict[str, float]:
    v = np.asarray(values, dtype=float)
    return {"long": float(v[v > 0].sum()), "short": float(-v[v < 0].sum()), "net": float(v.sum()),
            "gross": float(np.abs(v).sum())}


def correlation(returns: np.ndarray, cov: np.ndarray | None = None) -> np.ndarray:
    """Pearson correlation of the columns (from their covariance when given); a flat column correlates 0
    with the rest (1 with itself)."""
    r = np.asarray(returns, dtype=float)
    n = r.shape[1] if r.ndim == 2 else 0
    if n == 0:
        return np.zeros((0, 0))
    if r.shape[0] < 2:
        return np.eye(n)
    c = np.atleast_2d(np.cov(r, rowvar=False) if cov is None else cov)
    sd = np.sqrt(np.maximum(np.diagonal(c), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = c / (sd[:, None] * sd[None, :])
    if not np.isfinite(out).all():  # a flat column
        np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    out.flat[:: n + 1] = 1.0  # the diagonal
    return np.clip(out, -1.0, 1.0, out=out)


def clusters(symbols: Sequence[str], corr: np.ndarray, values: np.ndarray, threshold: float) -> list[Cluster]:
    """Every cluster of names at `threshold`, largest |net| exposure first (singletons included)."""
    if len(symbols) == 0:
        return []
    labels = cluster_labels(corr, threshold)
    net = np.abs(np.bincount(labels, weights=np.asarray(values, dtype=float)))
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    out = [Cluster(tuple(symbols[i] for i in members), float(net[labels[members[0]]]))
           for members in np.split(order, bounds)]
    return sorted(out, key=_rank)


def largest_cluster(found: Sequence[Cluster]) -> Cluster:
    """The multi-name cluster with the largest |net| exposure (a lone name is the position limit's job)."""
    multi = [c for c in found if c.size >= 2]
    return multi[0] if multi else Cluster((), 0.0)


def largest_of(symbols: Sequence[str], corr: np.ndarray, values: np.ndarray, threshold: float) -> Cluster:
    """largest_cluster(clusters(...)) without building every cluster: only the multi-name ones that tie
    on the largest |net| exposure become Clusters (the risk cycle needs just this one)."""
    if len(symbols) < 2:
        return Cluster((), 0.0)
    labels = cluster_labels(corr, threshold)
    net = np.abs(np.bincount(labels, weights=np.asarray(values, dtype=float)))
    multi = np.flatnonzero(np.bincount(labels) >= 2)
    if multi.size == 0:
        return Cluster((), 0.0)
    best = multi[net[multi] == net[multi].max()]
    found = [Cluster(tuple(symbols[i] for i in np.flatnonzero(labels == lab).tolist()), float(net[lab])) for lab in best]
    return min(found, key=_rank)


def _rank(c: Cluster) -> tuple[float, int, tuple[str, ...]]:
    return -c.net_exposure, -c.size, c.symbols


@cache
def _compiled() -> tuple[Any, int] | None:
    """scipy's compiled clustering (private; scipy is pinned and the equality is tested), loaded at the first
    clustering: scipy.cluster takes about a second to import, which the order gateway's importers (the kill
    switch's command line among them) should not pay. None: another scipy layout, use the public functions."""
    try:
        from scipy.cluster import _hierarchy
        from scipy.cluster.hierarchy import _LINKAGE_METHODS

        return _hierarchy, int(_LINKAGE_METHODS["average"])
    except (ImportError, KeyError):  # pragma: no cover - another scipy layout
        return None


def cluster_labels(corr: np.ndarray, threshold: float) -> np.ndarray:
    """Flat cluster label (1, 2, ...) per name: average linkage on 1 - corr, cut at 1 - threshold.

    Calls the compiled routines scipy's linkage and fcluster run (nn_chain, cluster_dist) directly:
    their input checks cost more than the clustering of a 60-name book. Same numbers (tested)."""
    n = corr.shape[0]
    if n == 1:
        return np.array([1], dtype=np.int32)
    from scipy.cluster.hierarchy import fcluster, linkage  # local import: see _compiled
    from scipy.spatial.distance import squareform

    dist = np.clip(1.0 - corr, 0.0, 2.0)
    dist.flat[:: n + 1] = 0.0  # the diagonal
    y = squareform(dist, checks=False)
    compiled = _compiled()
    if compiled is None or not np.isfinite(y).all():
        return fcluster(linkage(y, method="average"), t=1.0 - threshold, criterion="distance")
    _hierarchy, average = compiled
    tree = _hierarchy.nn_chain(y, n, average)
    labels = np.zeros(n, dtype=np.int32)
    _hierarchy.cluster_dist(tree, labels, float(1.0 - threshold), n)
    return labels


def betas(returns: np.ndarray, index_returns: np.ndarray) -> np.ndarray:
    """Each column's beta to the index: cov(r_i, r_m) / var(r_m); zeros when the index is flat."""
    r = np.asarray(returns, dtype=float)
    m = np.asarray(index_returns, dtype=float)
    if r.shape[0] < 2:
        return np.zeros(r.shape[1] if r.ndim == 2 else 0)
    mc = m - m.mean()
    var = float(mc @ mc)
    if var <= 0:
        return np.zeros(r.shape[1])
    return ((r - r.mean(axis=0)).T @ mc) / var
