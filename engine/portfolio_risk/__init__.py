"""Portfolio risk (issue 17): what the whole book could lose, and limits that act on it.

measures   VaR / CVaR (historical and parametric) of a linear book from a returns matrix
returns    recent returns from the store's bars, scaled to one trading day
structure  exposures by name / group / side, correlation and its largest cluster, beta
stress     the scenario library and user scenarios applied to the book
report     one RiskReport from a book and its history (what the risk cycle stores and the page shows)
limits     the TradingRisk portfolio limits: the gateway's pre-trade check and market-move breaches
store_io   RiskSnapshotRow history and user scenarios in the store (audited)
job        the risk cycle's step: compute, store, trigger REDUCING, reduce if configured
"""
