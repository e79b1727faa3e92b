"""Broker adapters behind one protocol (base.Broker): paper (embedded default) and alpaca."""
