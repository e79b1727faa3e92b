"""Wire login, roles, CSRF, Host allow-list and security headers into the Dash app's Flask server."""
from __future__ import annotations

import ipaddress
import logging

from dash import Dash
from dash.exceptions import DependencyException
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from engine.settings import Settings
from webapp.auth.errors import STORE_OUTAGE_TEXT, store_outage
from webapp.auth.guard import CALLBACK_ENDPOINT, DASH_APP_KEY, install_guard
from webapp.auth.headers import install_headers
from webapp.auth.limiter_storage import limiter_storage, warn_if_per_process
from webapp.auth.pages import register_auth_pages
from webapp.auth.sessions import init_sessions
from webapp.byte_sizes import size_text

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def init_auth(app: Dash, settings: Settings) -> None:
    server: Flask = app.server
    server.extensions[DASH_APP_KEY] = app
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        # werkzeug's documented way to trust N proxies; Flask types wsgi_app as a method, hence setattr
        setattr(server, "wsgi_app", ProxyFix(server.wsgi_app, x_for=n, x_proto=n, x_host=n))  # noqa: B010
    init_sessions(server)
    storage = limiter_storage(settings.cache_url)  # rediss:// (TLS) too: it fell back to memory silently
    warn_if_per_process(storage)
    register_auth_pages(server, settings.login_rate_limit, storage, setup_allowed=is_loopback(settings.host),
                        session_max_s=settings.session_max_hours * 3600)
    allowed = settings.extra_allowed_hosts | {settings.host.lower()}
    install_guard(server, frozenset(allowed), settings.session_idle_minutes * 60, settings.session_max_hours * 3600)
    install_headers(server, app)
    _install_error_handlers(server, settings.max_upload_bytes)


def request_too_large_message(max_bytes: int) -> str:
    """The server's 413: the request body is not read, so which upload it carried (a parameter workbook on the
    Parameters page, a CSV on the Backtest page) is unknown; the message names both limits' common size."""
    return (f"the file is larger than the {size_text(max_bytes)} upload limit (parameter workbooks and backtest "
            "CSV files alike)")


def _install_error_handlers(server: Flask, max_upload_bytes: int) -> None:
    @server.errorhandler(RequestEntityTooLarge)
    def too_large(_exc: RequestEntityTooLarge) -> tuple[Response, int]:
        size = request.content_length
        if size is not None and size <= max_upload_bytes:  # within the upload limit: one form field was too long
            return jsonify({"error": "refused: a form field is longer than the server accepts; nothing was "
                                     "changed"}), 413
        return jsonify({"error": f"refused: {request_too_large_message(max_upload_bytes)}; nothing was changed"}), 413

    @server.errorhandler(DependencyException)
    def unknown_asset(_exc: DependencyException) -> tuple[Response, int]:
        """A script path Dash does not serve (a typo, a probe): not found, and no traceback in the log."""
        log.info("no such component asset: %s", request.path[:200])
        return jsonify({"error": "not found"}), 404

    @server.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response | HTTPException | tuple[Response, int]:
        """A hostile or malformed callback request must never become an HTTP 500 with a traceback."""
        if isinstance(exc, HTTPException):
            return exc
        if store_outage(exc):  # a database outage is no bad input and no bug: 503, said plainly
            log.error("request to %s failed: the store is unreachable (%s)", request.path, type(exc).__name__)
            return jsonify({"error": STORE_OUTAGE_TEXT}), 503
        log.exception("request to %s failed", request.path)
        if request.endpoint == CALLBACK_ENDPOINT:
            return jsonify({"error": "the request could not be processed: its inputs are not what this "
                                     "control expects; nothing was changed"}), 400
        return jsonify({"error": "internal error; see the server log"}), 500
