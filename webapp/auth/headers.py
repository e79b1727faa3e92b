"""Security headers on every response, and the CSRF cookie Dash's renderer sends back as X-CSRFToken.

The Content-Security-Policy allows only this origin's scripts plus the hashes of Dash's own inline
scripts (Dash computes them: `app.csp_hashes()`); inline styles stay allowed because Dash and Plotly
set style attributes. Pages may not be framed (clickjacking), and the Server header names no versions.
"""
from __future__ import annotations

from dash import Dash
from flask import Flask, Response, request, session

from webapp.auth import sessions

CSRF_COOKIE = "_csrf_token"  # the cookie name dash-renderer reads (its csrf_token_name default)


def content_security_policy(script_hashes: list[str]) -> str:
    scripts = " ".join(["'self'", *script_hashes])
    return "; ".join([
        "default-src 'self'",
        f"script-src {scripts}",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def install_headers(server: Flask, dash_app: Dash) -> None:
    cache: dict[str, str] = {}

    def policy() -> str:
        if "csp" not in cache:
            hashes = list(dash_app.csp_hashes())
            cache["csp"] = content_security_policy(hashes)
        return cache["csp"]

    @server.after_request
    def add_headers(response: Response) -> Response:
        headers = response.headers
        headers["Content-Security-Policy"] = policy()
        headers["X-Frame-Options"] = "DENY"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Server"] = "RegimeDesk"
        if request.is_secure:
            headers["Strict-Transport-Security"] = "max-age=31536000"
        if session.get(sessions.CSRF_KEY) and request.cookies.get(CSRF_COOKIE) != session[sessions.CSRF_KEY]:
            response.set_cookie(CSRF_COOKIE, session[sessions.CSRF_KEY], httponly=False, samesite="Strict",
                                secure=request.is_secure, path="/")
        return response
