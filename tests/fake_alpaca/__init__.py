"""Local Alpaca-compatible HTTP server (trading, stock bars, option snapshots) with fault injection."""
from tests.fake_alpaca.book import ApiFailure, FakeBook, FakeOrder
from tests.fake_alpaca.server import FAULT_KINDS, FakeAlpacaServer

__all__ = ["FAULT_KINDS", "ApiFailure", "FakeAlpacaServer", "FakeBook", "FakeOrder"]
