"""Portfolio risk series for /metrics, from the newest report the engine's risk cycle stored.

  portfolio_var_usd{method,level}, portfolio_cvar_usd{method,level} (1 day, positive losses),
  portfolio_beta (dollar beta / equity), portfolio_worst_stress_pnl_usd, portfolio_cluster_net_usd,
  portfolio_limit_breaches (portfolio limits the book is above now), portfolio_risk_age_seconds.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric


def portfolio_families(stored: dict[str, Any] | None, now: datetime) -> Iterable[Metric]:
    """Nothing until the engine has stored one report."""
    if not stored or not isinstance(stored.get("report"), dict):
        return
    rep = stored["report"]
    var = GaugeMetricFamily("regimedesk_portfolio_var_usd", "1-day value at risk of the book (a positive loss)",
                            labels=["method", "level"])
    cvar = GaugeMetricFamily("regimedesk_portfolio_cvar_usd", "1-day conditional VaR (expected shortfall) of the book",
                             labels=["method", "level"])
    for key, figures in sorted(rep.get("var", {}).items()):
        method, level = key.split("_")
        var.add_metric([method, level], float(figures["var"]))
        cvar.add_metric([method, level], float(figures["cvar"]))
    yield var
    yield cvar
    equity = rep.get("equity")
    if equity:
        yield GaugeMetricFamily("regimedesk_portfolio_beta", "the book's beta to the index (dollar beta / equity)",
                                value=float(rep.get("dollar_beta", 0.0)) / float(equity))
    scenarios = rep.get("scenarios") or []
    if scenarios:
        yield GaugeMetricFamily("regimedesk_portfolio_worst_stress_pnl_usd", "P&L of the worst stress scenario",
                                value=min(float(s["pnl"]) for s in scenarios))
    yield GaugeMetricFamily("regimedesk_portfolio_cluster_net_usd", "|net| exposure of the largest correlated cluster",
                            value=float(rep.get("cluster", {}).get("net", 0.0)))
    yield GaugeMetricFamily("regimedesk_portfolio_limit_breaches", "portfolio limits the book is above now",
                            value=len(stored.get("breaches") or []))
    ts = stored.get("ts")
    if ts:
        yield GaugeMetricFamily("regimedesk_portfolio_risk_age_seconds", "seconds since the risk cycle last stored",
                                value=max(0.0, (now - datetime.fromisoformat(ts)).total_seconds()))
