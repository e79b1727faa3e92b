"""The numpy-first risk cycle (one covariance, one pick, scipy's compiled clustering, one sort for both
VaR levels) equals a straightforward reference on random books to 1e-12: pandas returns, np.cov,
np.corrcoef, np.percentile, scipy's linkage/fcluster, linregress and norm, and a loop per scenario."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from engine.portfolio_risk import measures, structure
from engine.portfolio_risk.report import MIN_RETURNS, Book, RiskReport, compute
from engine.portfolio_risk.returns import from_closes
from engine.portfolio_risk.stress import CORR1_Z, GAP_SIGMAS, UserScenario

TOL = 1e-12


def _close(actual, expected) -> None:
    expected = np.asarray(expected, dtype=float)
    scale = max(1.0, float(np.abs(expected).max())) if expected.size else 1.0
    np.testing.assert_allclose(np.asarray(actual, dtype=float), expected, rtol=TOL, atol=TOL * scale)


def _market(names: int, bars: int, seed: int, freq: str = "D", index: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    m = rng.normal(0.0003, 0.011, bars)
    r = m[:, None] * rng.uniform(0.5, 1.5, names) + rng.normal(0, 0.006, (bars, 4))[:, rng.integers(0, 4, names)] \
        + rng.normal(0, 0.012, (bars, names))
    cols = {f"S{i:02d}": r[:, i] for i in range(names)} | ({"IDX": m} if index else {})
    ts = pd.date_range("2025-01-02 14:30", periods=bars, freq=freq, tz="UTC")
    return pd.DataFrame({k: 100 * np.cumprod(1 + v) for k, v in cols.items()}, index=ts)


def _reference(book: Book, closes: pd.DataFrame, index: str | None, groups: dict[str, str], threshold: float,
               worst: int, users: list[UserScenario]) -> dict[str, object]:
    """Every figure the straightforward way (per item, pandas and scipy where they have it)."""
    syms, values = list(book.symbols), book.values
    filled = closes.sort_index().ffill()
    rets = filled.pct_change().iloc[1:].replace([np.inf, -np.inf], np.nan).fillna(0.0)
    r = rets.reindex(columns=syms, fill_value=0.0).to_numpy()
    m = rets[index].to_numpy() if index else np.zeros(len(rets))
    n = len(rets)
    spacing = pd.Series(filled.index).diff().median().total_seconds()
    h = 1.0 if spacing >= 20 * 3600 else max(1.0, 6.5 * 3600 / spacing)
    cov = np.cov(r, rowvar=False)
    betas = np.array([stats.linregress(m, r[:, j]).slope if m.var() > 0 else 0.0 for j in range(len(syms))])
    var_m = float(np.var(m, ddof=1))
    # a name without bars or whose closes never moved (coverage.py): the highest measured sigma, beta 1, and its
    # missing (or all-0) returns move against the book (sign(value) x proxy x the measured book's standardised P&L)
    flat = np.array([s in closes.columns and rets[s].std(ddof=1) == 0 for s in syms])
    absent = np.array([s not in closes.columns for s in syms]) | flat
    proxy = max(rets[[s for s, a in zip(syms, absent, strict=True) if not a] + ([index] if index else [])]
                .std(ddof=1)) if absent.any() else 0.0
    pnl_measured = r[:, ~absent] @ values[~absent]
    z = (pnl_measured - pnl_measured.mean()) / pnl_measured.std(ddof=1) if absent.any() else None
    if z is not None:
        r = r.copy()
        r[:, absent] = z[:, None] * (np.sign(values[absent]) * proxy)[None, :]
        betas[absent] = 1.0 if index else 0.0
    out: dict[str, object] = {"h": h, "betas": betas}
    if n >= MIN_RETURNS:
        pnl = r @ values
        measured_sd = np.sqrt(values[~absent] @ np.cov(r[:, ~absent], rowvar=False) @ values[~absent])
        book_sd = measured_sd + np.abs(values[absent]).sum() * proxy  # correlation 1 against the book
        for level in measures.LEVELS:
            tail = 1 - level
            k = int((n - 1) * tail)
            out[f"historical_{round(level * 100)}"] = (max(0.0, -np.percentile(pnl, 100 * tail) * np.sqrt(h)),
                                                      max(0.0, -np.sort(pnl)[: k + 1].mean() * np.sqrt(h)))
            # the one-bar distribution (its mean included) scaled by sqrt(h), as the historical figures are
            dist = stats.norm(loc=pnl.mean() * np.sqrt(h), scale=book_sd * np.sqrt(h))
            q = dist.ppf(tail)
            out[f"parametric_{round(level * 100)}"] = (max(0.0, -q), max(0.0, -(dist.mean() - dist.std() * stats.norm.pdf(
                stats.norm.ppf(tail)) / tail)))
    with np.errstate(invalid="ignore", divide="ignore"):  # a name without bars: no measured correlation (0)
        corr = np.nan_to_num(np.corrcoef(np.where(absent, 0.0, r), rowvar=False), nan=0.0)
    np.fill_diagonal(corr, 1.0)
    out["corr"] = corr
    dist = np.clip(1.0 - corr, 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    labels = fcluster(linkage(squareform(dist, checks=False), "average"), t=1.0 - threshold, criterion="distance")
    found = []
    for lab in set(labels):
        members = tuple(s for s, x in zip(syms, labels, strict=True) if x == lab)
        net = abs(sum(v for v, x in zip(values, labels, strict=True) if x == lab))
        if len(members) >= 2:
            found.append((-net, -len(members), members))
    out["cluster"] = (min(found)[2], -min(found)[0]) if found else ((), 0.0)
    own = np.where(absent, proxy**2, np.diag(cov))
    sigma, resid = np.sqrt(own * h), np.sqrt(np.clip(own - betas**2 * var_m, 0, None) * h)
    side = np.sign(values)
    shocks: list[tuple[str, np.ndarray]] = [(f"Index {mv:+.0%}, vol x2", betas * mv - side * 2 * resid)
                                            for mv in (-0.05, -0.10)]
    down = -CORR1_Z * sigma
    shocks.append(("Correlation-1 day", down if values @ down <= values @ -down else -down))
    shocks.append(("Gap at the open", -side * GAP_SIGMAS * sigma))
    last = filled.groupby(filled.index.date).last()
    daily = last.pct_change().iloc[1:].replace([np.inf, -np.inf], np.nan).fillna(0.0)
    moves = daily.reindex(columns=syms, fill_value=0.0)
    if z is not None:  # daily bars in these books: the days are the bars, filled as above
        assert len(daily) == n
        moves[[s for s, a in zip(syms, absent, strict=True) if a]] = r[:, absent]
    driver = daily[index] if index else moves @ values
    for day in driver.sort_values(kind="stable").index[:worst]:
        shocks.append((f"Worst day {day}", moves.loc[day].to_numpy()))
    for u in users:
        shocks.append((u.name, np.array([
            u.shocks[s] if s in u.shocks else u.shocks[groups[s]] if groups.get(s) in u.shocks
            else betas[j] * u.shocks["INDEX"] if "INDEX" in u.shocks else 0.0 for j, s in enumerate(syms)])))
    out["scenarios"] = [(name, np.array([v * x for v, x in zip(values, sh, strict=True)])) for name, sh in shocks]
    return out


def _check(book: Book, closes: pd.DataFrame, index: str | None, groups: dict[str, str], threshold: float = 0.6,
           users: list[UserScenario] | None = None) -> RiskReport:
    users = users or []
    rep = compute(book, from_closes(closes, index), groups, cluster_threshold=threshold, worst_days=5,
                  user_scenarios=users)
    ref = _reference(book, closes, index, groups, threshold, 5, users)
    assert rep.bars_per_day == pytest.approx(ref["h"], rel=TOL)
    for key, (var, cvar) in ((k, v) for k, v in ref.items() if k.startswith(("historical", "parametric"))):
        _close([rep.var[key].var, rep.var[key].cvar], [var, cvar])
    assert set(rep.var) == {k for k in ref if k.startswith(("historical", "parametric"))}
    _close(rep.corr, ref["corr"])
    _close(rep.betas, ref["betas"])
    symbols, net = ref["cluster"]
    assert rep.cluster.symbols == symbols
    _close([rep.cluster.net_exposure], [net])
    assert len(rep.scenarios) == len(ref["scenarios"])
    for got, (name, pnl) in zip(rep.scenarios, ref["scenarios"], strict=True):
        assert got.name.startswith(name), (got.name, name)
        _close(got.positions, pnl)
    return rep


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_daily_book_with_index_equals_the_reference(seed):
    closes = _market(60, 505, seed)
    rng = np.random.default_rng(seed + 100)
    symbols = tuple(f"S{i:02d}" for i in range(60))
    qty = rng.integers(-300, 600, 60).astype(float)
    book = Book(symbols, qty, closes[list(symbols)].iloc[-1].to_numpy(), equity=5e6)
    groups = {s: f"G{i % 6}" for i, s in enumerate(symbols)}
    rep = _check(book, closes, "IDX", groups, users=[UserScenario("u", {"G0": -0.08, "S05": 0.02, "INDEX": -0.02})])
    assert rep.cluster.size >= 2 and len(rep.scenarios) == 10 and len(rep.var) == 4


def test_missing_bars_a_flat_name_and_a_name_without_history_equal_the_reference():
    """NEW has no bars and S07's closes never move: both are measured at the proxy the reference computes (not as
    riskless names of 0 returns)."""
    closes = _market(12, 200, 4)
    closes.iloc[[5, 6, 40], 3] = np.nan  # missing bars: the last close carries
    closes["S07"] = 50.0  # a flat name: correlation 0 with the rest
    symbols = (*closes.columns[:12], "NEW")
    book = Book(symbols, np.linspace(-50, 80, 13), np.full(13, 20.0), equity=1e5)
    _check(book, closes, "IDX", {"S00": "a", "S01": "a"}, threshold=0.3,
           users=[UserScenario("u", {"a": -0.1, "INDEX": 0.03})])


def test_intraday_bars_without_an_index_equal_the_reference():
    closes = _market(8, 390 * 3, 5, freq="min", index=False)
    closes.index = pd.DatetimeIndex(np.concatenate([  # three sessions of one-minute bars
        pd.date_range(f"2026-01-0{d} 14:30", periods=390, freq="min", tz="UTC") for d in (5, 6, 7)]))
    symbols = tuple(closes.columns)
    rep = _check(Book(symbols, np.arange(1.0, 9.0) * 10 - 35, np.full(8, 10.0)), closes, None, {})
    assert rep.bars_per_day == 390.0 and len([s for s in rep.scenarios if s.kind == "historical"]) == 2


def test_too_few_returns_leave_var_out_and_the_rest_equal_the_reference():
    closes = _market(5, MIN_RETURNS - 3, 6)
    symbols = tuple(closes.columns[:5])
    rep = _check(Book(symbols, np.array([5.0, -3.0, 2.0, 1.0, -1.0]), np.full(5, 100.0)), closes, "IDX", {})
    assert rep.var == {} and rep.note


@pytest.mark.parametrize("n", [1, 2, 21, 503, 504])
def test_percentile_of_a_sorted_series_is_numpys(n):
    x = np.sort(np.random.default_rng(n).standard_t(3, n))
    for pct in (1.0, 100 * (1 - 0.95), 100 * (1 - 0.99), 50.0, 100.0, 0.0):
        assert measures._percentile_sorted(x, pct) == np.percentile(x, pct)


def test_cluster_labels_are_scipys_linkage_and_fcluster():
    rng = np.random.default_rng(9)
    r = rng.normal(size=(300, 40)) + rng.normal(size=(300, 5))[:, rng.integers(0, 5, 40)]
    corr = structure.correlation(r)
    for threshold in (0.2, 0.5, 0.7):
        dist = np.clip(1.0 - corr, 0.0, 2.0)
        np.fill_diagonal(dist, 0.0)
        expected = fcluster(linkage(squareform(dist, checks=False), "average"), 1.0 - threshold, "distance")
        assert np.array_equal(structure.cluster_labels(corr, threshold), expected)
        symbols = tuple(f"N{i}" for i in range(40))
        values = rng.normal(size=40)
        assert structure.largest_of(symbols, corr, values, threshold) == structure.largest_cluster(
            structure.clusters(symbols, corr, values, threshold))
