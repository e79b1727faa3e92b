"""Market data: sources (simulated, csv, alpaca) behind one interface."""
