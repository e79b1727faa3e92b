"""HTTP plumbing shared by the Alpaca adapters: timeouts alpaca-py lacks, and error classification.

alpaca-py 0.44 sends every request through ``RESTClient._session.request`` with no timeout, and
retries 429/504 itself (``_retry`` times, ``_retry_wait`` seconds apart). We swap in an
AlpacaSession (deadline, rate limiter, per-attempt timeout: see alpaca_limits) and switch the SDK's
retries off. The attributes are checked at construction so an SDK upgrade that renames them fails
loudly instead of silently hanging.
"""
from __future__ import annotations

import json
from enum import Enum
from typing import Any

import requests
from alpaca.common.exceptions import APIError
from alpaca.common.rest import RESTClient
from pydantic import ValidationError

from engine.trading.brokers.alpaca_limits import (
    AlpacaSession,
    DeadlineExceeded,
    NotSent,
    RateLimitedLocally,
    RateLimiter,
)

# Alpaca's 40010001 is shared by many validation errors ("asset ... is not active", "client_order_id must be
# no more than 128 characters", ...): a duplicate client order id is recognised by its message, never the code.
DUPLICATE_MESSAGE = "client_order_id must be unique"


def secret_value(value: Any) -> str | None:
    """The plain text of a SecretStr (or str) setting; None when unset or empty."""
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if callable(getter) else value) or None


def harden_client(client: RESTClient, timeout_s: float, retry_wait_s: float | None = None,
                  retry_attempts: int | None = None, *, limiter: RateLimiter | None = None,
                  default_call_s: float | None = None) -> RESTClient:
    """Route an alpaca-py client's requests through an AlpacaSession and turn the SDK's own retries off.

    alpaca-py retries 429/504 itself (``_retry`` times, ``_retry_wait`` s apart), outside any deadline
    and even for order submission. Here ``_retry = 0`` and ``_retry_codes = []``: one retry policy,
    ours (alpaca_calls.GuardedCaller), decides, inside one deadline. ``retry_wait_s``/``retry_attempts``
    are accepted for old callers and ignored.
    """
    del retry_wait_s, retry_attempts
    for attr in ("_session", "_retry", "_retry_wait", "_retry_codes"):
        if not hasattr(client, attr):
            raise RuntimeError(
                f"alpaca-py changed: {type(client).__name__} has no {attr}; "
                "the Alpaca adapter cannot enforce timeouts. Pin alpaca-py==0.44.0 or update alpaca_http.py."
            )
    old = client._session
    client._session = AlpacaSession(timeout_s, limiter, default_call_s)
    old.close()
    client._retry = 0
    client._retry_codes = []
    return client


class Failure(Enum):
    UNAVAILABLE = "unavailable"  # network, timeout, 5xx, 504, malformed body: the request may have applied
    RATE_LIMITED = "rate_limited"  # 429: Alpaca refused before doing anything; retry after its Retry-After
    DUPLICATE = "duplicate"  # "client_order_id must be unique"
    NOT_FOUND = "not_found"
    AUTH = "auth"
    REJECTED = "rejected"  # any other 4xx: the broker answered and said no


def api_detail(exc: APIError) -> tuple[int | None, str]:
    """(code, message) from an APIError without trusting the body to be JSON."""
    text = str(exc)
    try:
        body = json.loads(text)
        if isinstance(body, dict):
            code = body.get("code")
            return (int(code) if isinstance(code, int | str) and str(code).isdigit() else None,
                    str(body.get("message", text)))
    except ValueError:
        pass
    return None, text[:200] or "empty response"


def classify(exc: BaseException) -> Failure | None:
    """What an SDK exception means for the caller; None for programming errors (re-raise)."""
    if isinstance(exc, requests.RequestException):
        return Failure.UNAVAILABLE
    if isinstance(exc, ValidationError | json.JSONDecodeError):
        return Failure.UNAVAILABLE  # the answer was garbled; the request may or may not have applied
    if isinstance(exc, APIError):
        status = exc.status_code
        code, message = api_detail(exc)
        if status is not None and 400 <= status < 500 and DUPLICATE_MESSAGE in message.lower():
            return Failure.DUPLICATE
        if status == 429:
            return Failure.RATE_LIMITED
        if status is None or status >= 500 or status == 408:
            return Failure.UNAVAILABLE
        if status == 404:
            return Failure.NOT_FOUND
        if status == 401:
            return Failure.AUTH
        return Failure.REJECTED
    return None


def describe(exc: BaseException) -> str:
    """A short, secret-free description of an SDK or network failure."""
    if isinstance(exc, APIError):
        code, message = api_detail(exc)
        return f"HTTP {exc.status_code}" + (f" code {code}" if code else "") + f": {message}"
    if isinstance(exc, DeadlineExceeded | RateLimitedLocally | NotSent):
        return str(exc)
    if isinstance(exc, requests.Timeout):
        return "no answer within the timeout"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed or dropped"
    if isinstance(exc, ValidationError):
        return "malformed answer from the server"
    return type(exc).__name__
