"""One risk report of a book: what the risk cycle stores, the Risk page draws and the limits compare.

A Book is signed quantities and last prices; its values (qty x price) are the weights every
measure uses (a linear book: stocks and ETFs, no option convexity).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.portfolio_risk import coverage, measures, moments, stress, structure
from engine.portfolio_risk.returns import ReturnsHistory

MIN_RETURNS = 20  # fewer returns than this: no VaR (a tail of one or two points says nothing)


@dataclass(frozen=True)
class Book:
    symbols: tuple[str, ...]
    qty: np.ndarray
    price: np.ndarray
    equity: float | None = None
    stale_note: str = ""  # names the held symbols whose last close was stale, and their price (portfolio_risk/freshness.py)

    @property
    def values(self) -> np.ndarray:
        return np.asarray(self.qty, dtype=float) * np.asarray(self.price, dtype=float)

    def with_order(self, symbol: str, signed_qty: float, price: float) -> Book:
        """The book after `signed_qty` more of `symbol` at `price`."""
        syms, qty, px = list(self.symbols), [float(q) for q in self.qty], [float(p) for p in self.price]
        if symbol in syms:
            i = syms.index(symbol)
            qty[i] += signed_qty
        else:
            syms.append(symbol)
            qty.append(signed_qty)
            px.append(price)
        return Book(tuple(syms), np.array(qty), np.array(px), self.equity, self.stale_note)


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    kind: str
    symbols: tuple[str, ...]
    positions: np.ndarray  # P&L per position, in the order of symbols

    @property
    def pnl(self) -> float:
        return float(self.positions.sum())

    @property
    def per_position(self) -> dict[str, float]:
        return {s: float(p) for s, p in zip(self.symbols, self.positions, strict=True)}


@dataclass(frozen=True)
class RiskReport:
    symbols: tuple[str, ...]
    values: np.ndarray
    equity: float | None
    n_returns: int
    bars_per_day: float
    var: dict[str, measures.VarFigures] = field(default_factory=dict)  # "historical_99" -> figures
    groups: list[structure.GroupExposure] = field(default_factory=list)
    sides: dict[str, float] = field(default_factory=dict)
    corr: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    cluster: structure.Cluster = structure.Cluster((), 0.0)
    betas: np.ndarray = field(default_factory=lambda: np.zeros(0))
    dollar_beta: float = 0.0
    scenarios: list[ScenarioResult] = field(default_factory=list)
    note: str = ""  # why some figures are missing

    def figure(self, method: str, level: float, which: str = "cvar") -> float | None:
        f = self.var.get(f"{method}_{round(level * 100)}")
        return None if f is None else getattr(f, which)

    @property
    def worst_scenario(self) -> ScenarioResult | None:
        return min(self.scenarios, key=lambda s: s.pnl) if self.scenarios else None

    @property
    def book_beta(self) -> float | None:
        return self.dollar_beta / self.equity if self.equity else None

    def pct(self, amount: float | None) -> float | None:
        """An amount as % of equity (None when equity is unknown)."""
        return None if amount is None or not self.equity else 100.0 * amount / self.equity

    def to_json(self) -> dict[str, Any]:
        """The stored form: everything the page draws, JSON-able."""
        return {
            "symbols": list(self.symbols), "values": [float(v) for v in self.values], "equity": self.equity,
            "n_returns": self.n_returns, "bars_per_day": self.bars_per_day, "note": self.note,
            "var": {k: {"var": f.var, "cvar": f.cvar} for k, f in self.var.items()},
            "groups": [{"group": g.group, "long": g.long, "short": g.short} for g in self.groups],
            "sides": self.sides, "corr": np.round(self.corr, 4).tolist(),
            "cluster": {"symbols": list(self.cluster.symbols), "net": self.cluster.net_exposure},
            "betas": [float(b) for b in self.betas], "dollar_beta": self.dollar_beta,
            "scenarios": [{"name": s.name, "kind": s.kind, "pnl": s.pnl, "per_position": s.per_position}
                          for s in self.scenarios],
        }


def compute(book: Book, history: ReturnsHistory, groups: Mapping[str, str], *, cluster_threshold: float = 0.7,
            worst_days: int = 5, user_scenarios: Sequence[stress.UserScenario] = ()) -> RiskReport:
    """Every figure of the book from its recent returns (one covariance matrix serves them all).

    A name missing returns is measured on the ones it has, a name with too few at a proxy sigma (coverage.py)."""
    symbols, values = book.symbols, book.values
    k = len(symbols)
    index = history.index_symbol if history.index_symbol and history.index_symbol in history.closes.columns else None
    wanted = symbols + (index,) if index else symbols
    r_all = history.matrix(wanted)  # the names, then the index: one pick, one covariance (NaN: no return)
    r, n, h = r_all[:, :k], r_all.shape[0], history.bars_per_day
    mom = moments.of(r_all, with_index=index is not None)
    own_var = np.clip(np.diag(mom.cov), 0.0, None)
    index_count = int(np.isfinite(r_all[:, k]).sum()) if index else 0
    cover = coverage.assess(symbols, mom.counts, np.sqrt(own_var), n, np.sqrt(mom.index_var) if index else None,
                            index_count, MIN_RETURNS, h)
    b, resid_var = mom.betas, mom.resid_var
    if cover.short.any():  # a proxy: its variance, beta 1 to the index (0 without one), the rest residual
        b = np.where(cover.short, 1.0 if index else 0.0, b)
        own_var = np.where(cover.short, cover.sd * cover.sd, own_var)
        resid_var = np.where(cover.short, np.clip(own_var - b * b * mom.index_var, 0.0, None), resid_var)
    sigma = np.sqrt(own_var * h)
    resid_sigma = np.sqrt(resid_var * h)  # OLS: var(r - b m) = var(r) - b^2 var(m)
    index_r = r_all[:, k] if index else None
    # closes that never moved: their 0 returns are unknown moves (coverage.py), filled like missing ones
    known = np.where(cover.flat, np.nan, r) if cover.flat.any() else r
    filled = coverage.fill(known, values, cover.sd, cover.measured, index_r)  # r itself when no return is missing
    notes = [n for n in (cover.note, book.stale_note) if n]
    var: dict[str, measures.VarFigures] = {}
    if n >= MIN_RETURNS and k:
        hist = measures.historical_levels(measures.portfolio_pnl(filled, values), measures.LEVELS, h)
        mu, variance = _parametric(values, mom, cover)
        gauss = measures.gaussian(mu, variance, measures.LEVELS, h)
        for level, hf, gf in zip(measures.LEVELS, hist, gauss, strict=True):
            var[f"historical_{round(level * 100)}"] = hf
            var[f"parametric_{round(level * 100)}"] = gf
    elif k:
        notes.insert(0, f"only {n} returns in the store (VaR needs {MIN_RETURNS}); VaR and CVaR are not computed yet")
    corr = structure.correlation(r, cov=mom.cov) if mom.corr is None else mom.corr
    scenarios = stress.hypothetical(values, b, sigma, resid_sigma)
    if history.daily_is_bars:
        dates, daily, index_daily = history.daily_dates, filled, index_r
    else:
        dates, daily_all = history.daily_matrix(wanted)
        index_daily = daily_all[:, k] if index else None
        daily_names = np.where(cover.flat, np.nan, daily_all[:, :k]) if cover.flat.any() else daily_all[:, :k]
        daily = coverage.fill(daily_names, values, cover.sd * np.sqrt(h), cover.measured, index_daily)
    if index_daily is not None and not np.isfinite(index_daily).all():
        index_daily = np.nan_to_num(index_daily, nan=0.0)  # a day without an index close is no index move
    scenarios += stress.historical(values, dates, daily, index_daily, worst_days)
    scenarios += [stress.user(u, symbols, groups, b) for u in user_scenarios]
    pnl = stress.pnl_matrix(scenarios, values)  # scenarios x positions, one product
    results = [ScenarioResult(sc.name, sc.kind, symbols, row) for sc, row in zip(scenarios, pnl, strict=True)]
    cluster = structure.largest_of(symbols, corr, values, cluster_threshold)
    exposure = structure.by_group(symbols, values, groups)
    return RiskReport(symbols=symbols, values=values, equity=book.equity, n_returns=n, bars_per_day=h, var=var,
                      groups=exposure, sides=structure.by_side(values), corr=corr, cluster=cluster, betas=b,
                      dollar_beta=float(values @ b), scenarios=results, note="; ".join(notes))


def _parametric(values: np.ndarray, mom: moments.Moments, cover: coverage.Coverage) -> tuple[float, float]:
    """(mean, variance) of the book's one-bar P&L: w'Σw; a proxied name adds its |value| x proxy sigma to the
    measured book's sigma (correlation 1 against the book: it never diversifies) and no drift."""
    if not cover.short.any():
        return float(mom.mean @ values), float(values @ mom.cov @ values)
    m = cover.measured
    w = values[m]
    sd = float(np.sqrt(max(float(w @ mom.cov[np.ix_(m, m)] @ w), 0.0)))
    sd += float(np.abs(values[cover.short]) @ cover.sd[cover.short])
    return float(mom.mean[m] @ w), sd * sd
