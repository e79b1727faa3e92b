"""The portfolio limits of the TradingRisk sheet, and the gateway's pre-trade check against them.

Limits (each 0 = off): 1-day 99% historical CVaR, the worst stress-scenario loss, the largest
correlated cluster's |net| exposure (all as % of equity), and a gross exposure cap per group.
An order is refused when it would leave the book above a limit AND worse than before it, so an
order that lowers a breach (a hedge) still goes through; pure reductions are never checked.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.params import ParamsError, ParamSet
from engine.params.typed import Parameters
from engine.portfolio_risk.report import RiskReport

log = logging.getLogger(__name__)
EPS = 1e-9


@dataclass(frozen=True)
class PortfolioLimits:
    """Field names are the TradingRisk parameter names; the defaults equal the schema's."""

    max_cvar_pct: float = 25.0
    max_stress_loss_pct: float = 60.0
    max_cluster_exposure_pct: float = 200.0
    cluster_correlation_threshold: float = 0.7
    risk_lookback_bars: int = 500
    reduce_on_breach: bool = False
    # symbol (upper case, as brokers report it; the validator upper-cases too) -> group (Risk Groups table)
    groups: Mapping[str, str] = field(default_factory=dict)
    group_limits: Mapping[str, float] = field(default_factory=dict)  # group -> max gross % of equity

    @property
    def active(self) -> bool:
        """False when every portfolio limit is off (the gateway then skips the portfolio check)."""
        return bool(self.max_cvar_pct > 0 or self.max_stress_loss_pct > 0 or self.max_cluster_exposure_pct > 0
                    or self.group_limits)

    @classmethod
    def from_params(cls, ps: ParamSet | None) -> PortfolioLimits:
        """From a parameter set's TradingRisk sheet; the defaults for a set without these entries (or None)."""
        if ps is None:
            return cls()
        try:
            risk = Parameters(ps).trading_risk
            return cls(max_cvar_pct=float(risk.max_cvar_pct), max_stress_loss_pct=float(risk.max_stress_loss_pct),
                       max_cluster_exposure_pct=float(risk.max_cluster_exposure_pct),
                       cluster_correlation_threshold=float(risk.cluster_correlation_threshold),
                       risk_lookback_bars=int(risk.risk_lookback_bars), reduce_on_breach=bool(risk.reduce_on_breach),
                       groups={str(r.symbol).strip().upper(): r.group for r in risk.risk_groups},
                       group_limits={r.group: float(r.max_exposure_pct) for r in risk.group_limits})
        except (KeyError, LookupError, AttributeError, ParamsError):  # an older stored version without them
            log.info("the parameter set has no portfolio limits; the defaults apply")
            return cls()


@dataclass(frozen=True, slots=True)
class Breach:
    limit: str  # the parameter name, or "group_limits:<group>"
    value_pct: float
    limit_pct: float
    reason: str

    @property
    def excess(self) -> float:
        """How far over, as a ratio (1.2 = 20% over the limit)."""
        return self.value_pct / self.limit_pct if self.limit_pct else 0.0


def measured(report: RiskReport, limits: PortfolioLimits) -> dict[str, float]:
    """Each active limit's measured value, % of equity (absent when it cannot be measured)."""
    out: dict[str, float] = {}
    if not report.equity or report.equity <= 0:
        return out
    cvar = report.figure("historical", 0.99)
    if limits.max_cvar_pct > 0 and cvar is not None:
        out["max_cvar_pct"] = 100.0 * cvar / report.equity
    worst = report.worst_scenario
    if limits.max_stress_loss_pct > 0 and worst is not None:
        out["max_stress_loss_pct"] = 100.0 * max(0.0, -worst.pnl) / report.equity
    if limits.max_cluster_exposure_pct > 0:
        out["max_cluster_exposure_pct"] = 100.0 * report.cluster.net_exposure / report.equity
    for g in report.groups:
        if g.group in limits.group_limits:
            out[f"group_limits:{g.group}"] = 100.0 * g.gross / report.equity
    return out


def limit_of(name: str, limits: PortfolioLimits) -> float:
    if name.startswith("group_limits:"):
        return limits.group_limits[name.split(":", 1)[1]]
    return float(getattr(limits, name))


def describe(name: str, value: float, cap: float, report: RiskReport) -> str:
    """A trader-readable sentence naming the limit."""
    if name == "max_cvar_pct":
        return f"1-day 99% CVaR would be {value:.2f}% of equity (limit max_cvar_pct {cap:g}%)"
    if name == "max_stress_loss_pct":
        worst = report.worst_scenario
        where = f" in scenario '{worst.name}'" if worst else ""
        return f"stress loss would be {value:.2f}% of equity{where} (limit max_stress_loss_pct {cap:g}%)"
    if name == "max_cluster_exposure_pct":
        names = ", ".join(report.cluster.symbols)
        return (f"correlated cluster [{names}] would hold {value:.2f}% of equity net "
                f"(limit max_cluster_exposure_pct {cap:g}%)")
    group = name.split(":", 1)[1]
    return f"group '{group}' gross exposure would be {value:.2f}% of equity (group_limits {group}: {cap:g}%)"


def breaches(report: RiskReport, limits: PortfolioLimits) -> list[Breach]:
    """Every limit the book is above now, worst excess first."""
    out = []
    for name, value in measured(report, limits).items():
        cap = limit_of(name, limits)
        if value > cap + EPS:
            out.append(Breach(name, value, cap, describe(name, value, cap, report)))
    return sorted(out, key=lambda b: -b.excess)


def order_breach(before: RiskReport, after: RiskReport, limits: PortfolioLimits) -> Breach | None:
    """The first limit the order would breach and worsen (group, cluster, CVaR, stress order)."""
    was = measured(before, limits)
    now = measured(after, limits)
    order = sorted(now, key=lambda n: (0 if n.startswith("group") else 1 if "cluster" in n else
                                       2 if "cvar" in n else 3, n))
    for name in order:
        cap = limit_of(name, limits)
        if now[name] > cap + EPS and now[name] > was.get(name, 0.0) + EPS:
            return Breach(name, now[name], cap, describe(name, now[name], cap, after))
    return None
