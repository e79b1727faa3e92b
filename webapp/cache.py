"""Caches for store queries: in-process by default, Redis when REGIMEDESK_CACHE_URL is set.

Interval callbacks on several pages and several browser tabs read the same snapshots; a short
timeout makes them share one query per period. The live reads of the dashboard's interval callbacks
(webapp/queries.py, webapp/trading_queries.py) use webapp/live_cache.py, cheaper per hit; the other
pages' views use flask-caching's memoize (`cache`).
"""
from __future__ import annotations

from flask import Flask
from flask_caching import Cache

from webapp.live_cache import init_live_cache

cache = Cache()
QUERY_TTL_SECONDS = 1


def init_cache(server: Flask, cache_url: str, ttl_seconds: int = QUERY_TTL_SECONDS) -> None:
    """Redis (shared by every web worker: a control action's `forget()` drops the cached reads for all
    of them at once) or an in-process cache; entries live `ttl_seconds` (REGIMEDESK_CACHE_TTL_SECONDS)."""
    config: dict[str, str | int]
    if cache_url.startswith(("redis://", "rediss://")):
        config = {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": cache_url, "CACHE_KEY_PREFIX": "regimedesk:"}
    else:
        config = {"CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": 2000}
    config["CACHE_DEFAULT_TIMEOUT"] = ttl_seconds
    cache.init_app(server, config=config)
    init_live_cache(server, cache_url, ttl_seconds)  # the interval callbacks' reads (webapp/live_cache.py)
