"""Trading: state machine, order gateway, risk checks, brokers, reconciliation."""
