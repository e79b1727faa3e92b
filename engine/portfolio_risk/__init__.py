"""Portfolio risk (issue 17): what the whole book could lose, and limits that act on it.

measures   VaR / CVaR (historical and parametric) of a linear book from a returns matrix
returns    recent returns from the store's bars, scaled to one trading day
moments    the cycle's one covariance (names and index): sigmas, correlation, w'Σw and betas read from it
structure  exposures by name / group / side, correlation and its largest cluster, beta
stress     the scenario library and user scenarios applied to the book
report     one RiskReport from a book and its history (what the risk cycle stores and the page shows)
limits     the TradingRisk portfolio limits and their breaches
book       the current book and its (cached) history from the store
check      the gateway's pre-trade check: refuse an order that would breach a limit and worsen it
store_io   RiskSnapshotRow history, the newest report (engine_kv) and user scenarios (audited)
job        the risk cycle's step: compute, store, trigger REDUCING, reduce if configured
cli        `python -m engine.portfolio_risk stress --closes FILE.csv`: stress on supplied history
"""
