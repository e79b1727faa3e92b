"""HTTP plumbing shared by the Alpaca adapters: timeouts alpaca-py lacks, and error classification.

alpaca-py 0.44 sends every request through ``RESTClient._session.request`` with no timeout, and
retries 429/504 itself (``_retry`` times, ``_retry_wait`` seconds apart). We swap in a Session
that always passes a timeout and, if asked, tune those two retry attributes. Both are checked at
construction so an SDK upgrade that renames them fails loudly instead of silently hanging.
"""
from __future__ import annotations

import json
from enum import Enum
from typing import Any

import requests
from alpaca.common.exceptions import APIError
from alpaca.common.rest import RESTClient
from pydantic import ValidationError

DUPLICATE_CLIENT_ORDER_ID_CODE = 40010001


def secret_value(value: Any) -> str | None:
    """The plain text of a SecretStr (or str) setting; None when unset or empty."""
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if callable(getter) else value) or None


class TimeoutSession(requests.Session):
    """A requests Session whose every request has a timeout unless the caller gives one."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout_s)
        return super().request(method, url, *args, **kwargs)


def harden_client(client: RESTClient, timeout_s: float, retry_wait_s: float | None = None,
                  retry_attempts: int | None = None) -> RESTClient:
    """Give an alpaca-py client a request timeout and, optionally, its own 429/504 retry settings."""
    for attr in ("_session", "_retry", "_retry_wait"):
        if not hasattr(client, attr):
            raise RuntimeError(
                f"alpaca-py changed: {type(client).__name__} has no {attr}; "
                "the Alpaca adapter cannot enforce timeouts. Pin alpaca-py==0.44.0 or update alpaca_http.py."
            )
    old = client._session
    client._session = TimeoutSession(timeout_s)
    old.close()
    if retry_wait_s is not None:
        client._retry_wait = retry_wait_s  # type: ignore[assignment]  # time.sleep accepts floats
    if retry_attempts is not None:
        client._retry = retry_attempts
    return client


class Failure(Enum):
    UNAVAILABLE = "unavailable"  # network, timeout, 5xx, 429/504 after SDK retries, malformed body
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
        if code == DUPLICATE_CLIENT_ORDER_ID_CODE or "client_order_id must be unique" in message.lower():
            return Failure.DUPLICATE
        if status is None or status >= 500 or status in (408, 429):
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
    if isinstance(exc, requests.Timeout):
        return "no answer within the timeout"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed or dropped"
    if isinstance(exc, ValidationError):
        return "malformed answer from the server"
    return type(exc).__name__
