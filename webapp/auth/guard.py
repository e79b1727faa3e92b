"""The one gate every request passes: Host allow-list, login, session expiry, CSRF, and the role of
the route or of the Dash callback the request would run. Refusals of logged-in users are audited.

Order: Host (400; the probes /healthz, /readyz and /metrics with its token are exempt) → declared access of
the endpoint (403 when undeclared) → login (redirect to /login for pages, 401 otherwise) → CSRF on every
state-changing method (403) → role (403). /logout only needs a same-origin request (logout_refusal).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import dash
from flask import Flask, Response, g, jsonify, redirect, request, url_for
from flask_login import current_user
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wrappers import Response as BaseResponse

from engine import audit
from engine.auth import principal
from engine.auth.roles import Role, at_least
from engine.store import write_gate
from webapp.auth import sessions
from webapp.auth.access import PUBLIC, TOKEN, callback_role, route_access
from webapp.context import get_context

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PAGE_ENDPOINTS = frozenset({"/", "/<path:path>"})
CALLBACK_ENDPOINT = "/_dash-update-component"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DASH_APP_KEY = "regimedesk_dash_app"
MERGED_MAP_KEY = "regimedesk_callback_map"
FORM_ENDPOINTS = frozenset({"auth_login", "auth_setup", "auth_logout",  # HTML forms: the token as a form field
                            "auth_logout_everywhere"})
LOGOUT_ENDPOINT = "auth_logout"  # same-origin is enough: logout_refusal
DEFAULT_PORTS = {"http": "80", "https": "443"}
PROBE_ENDPOINTS = frozenset({"healthz", "readyz"})  # answered whatever the Host (_probe_from_any_host)
METRICS_ENDPOINT = "metrics"  # with a valid bearer token, answered whatever the Host too


def host_name(host: str) -> str:
    """The host part of a Host header value, lower-cased, without the port ("[::1]:8050" → "::1")."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _refusal(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def _source() -> str:
    return (request.remote_addr or "unknown")[:64]


def _metrics_token_ok() -> bool:
    from webapp.metrics import metrics_token_ok  # local import: webapp.metrics pulls in prometheus-client

    return bool(metrics_token_ok(request))


def _probe_from_any_host() -> bool:
    """A load balancer, kubelet or Prometheus addresses an instance by its IP, so its Host is not a served name.
    The probes (/healthz, /readyz, and /metrics with its bearer token) are no DNS-rebinding target: they use no
    cookie and change nothing. Every other route, and /metrics without the token, keeps the Host allow-list."""
    if request.endpoint in PROBE_ENDPOINTS:
        return request.method in SAFE_METHODS
    return request.endpoint == METRICS_ENDPOINT and request.method in SAFE_METHODS and _metrics_token_ok()


def _callback_map(server: Flask) -> Mapping[str, Any]:
    """Dash's global callbacks and the app's own, merged once (again whenever either gains a callback),
    not on every callback request."""
    app = server.extensions.get(DASH_APP_KEY)
    global_map = dash._callback.GLOBAL_CALLBACK_MAP
    own = app.callback_map if app is not None else {}
    key = (id(global_map), len(global_map), id(own), len(own))
    cached = server.extensions.get(MERGED_MAP_KEY)
    if cached is not None and cached[0] == key:
        return cached[1]
    merged: dict[str, Any] = {**global_map, **own}
    server.extensions[MERGED_MAP_KEY] = (key, merged)
    return merged


def _audit_refusal(user_name: str, what: str, needed: str, role: str) -> None:
    ctx = get_context()
    try:
        with ctx.store.write() as s:
            audit.record(s, ctx.clock.now(), f"web:{user_name}", "auth.refused", target=what[:128],
                         details={"needed": needed, "role": role, "method": request.method}, outcome="refused")
    except Exception:  # noqa: BLE001 - a refusal stands even when the store cannot record it
        log.exception("could not audit a refused request to %s", what)


def install_guard(server: Flask, allowed_hosts: frozenset[str], idle_s: float, max_s: float) -> None:
    hosts = LOOPBACK_HOSTS | allowed_hosts

    @server.before_request
    def guard() -> BaseResponse | None:
        g.principal_token = principal.set_current(principal.Principal("", "", _source()))
        if request.method not in SAFE_METHODS:  # a person waits for it: its writes go before the engine's (SQLite)
            g.urgent_token = write_gate.mark_urgent()
        if host_name(request.host) not in hosts and not _probe_from_any_host():
            return _refusal(400, "this Host is not served here; add it to REGIMEDESK_ALLOWED_HOSTS")
        access = route_access(request.endpoint)
        if request.endpoint is None:
            return None  # no such route: Flask answers 404/405 itself
        if access is None:
            return _refusal(403, f"the route {request.endpoint} has no declared access and is refused")
        user = current_user if current_user.is_authenticated else None
        if user is not None:
            why = sessions.expired(idle_s, max_s, activity=not _polling())
            if why is not None:
                _audit_logout(user.name, user.role, f"session expired ({why})", "auth.session_expired")
                sessions.end()
                user = None
        if user is not None:
            principal.set_current(principal.Principal(user.name, user.role, _source()))
        if request.endpoint == LOGOUT_ENDPOINT:
            return logout_refusal()
        if access == PUBLIC:
            return _csrf_refusal()
        if access == TOKEN and (user is not None or _metrics_token_ok()):
            return None
        unverified = sessions.login_unverified()
        if unverified is not None:
            refused = _outage_refusal(server, user, access, unverified)
            if refused is not None or user is None:
                return refused
            refused = _csrf_refusal()  # a recent login may view (a viewer's callbacks) while the store is away
            if refused is None and request.endpoint == CALLBACK_ENDPOINT:
                return _check_callback(server, user.name, Role.VIEWER.value)
            return refused
        if user is None:
            if request.method in SAFE_METHODS and request.endpoint in PAGE_ENDPOINTS:
                return redirect(url_for("auth_login", next=request.full_path.rstrip("?")))
            return _refusal(401, "log in first: your session has ended or you are not logged in")
        refused = _csrf_refusal()
        if refused is not None:
            return refused
        if not at_least(user.role, access):
            _audit_refusal(user.name, request.path, access, user.role)
            return _refusal(403, f"this needs the {access} role; you are {user.role}")
        if request.endpoint == CALLBACK_ENDPOINT:
            return _check_callback(server, user.name, user.role)
        return None

    @server.teardown_request
    def forget_principal(_exc: BaseException | None) -> None:
        token = g.pop("principal_token", None)
        if token is not None:
            principal.reset(token)
        urgent = g.pop("urgent_token", None)
        if urgent is not None:
            write_gate.reset_urgent(urgent)


def _outage_refusal(server: Flask, user: Any, access: str, why: str) -> Response | None:
    """The store is down, so this login cannot be checked (a disabled user or a logout elsewhere would go unseen):
    503, never a 500; a login this process verified within sessions.LOGIN_GRACE_S may still view (pages, GETs, a
    viewer's callbacks), as a viewer, and nothing more. Never grants what the role check would refuse."""
    message = f"{why}: your login cannot be verified now"
    if user is None:
        return _refusal(503, f"{message}; try again when the store is back (see /readyz)")
    principal.set_current(principal.Principal(user.name, Role.VIEWER.value, _source()))
    needed = access
    if request.endpoint == CALLBACK_ENDPOINT:
        body = request.get_json(silent=True)
        output = body.get("output") if isinstance(body, dict) else None
        needed = (callback_role(_callback_map(server), output) if isinstance(output, str) else None) or "undeclared"
    elif request.method not in SAFE_METHODS:
        needed = "change"
    if needed in (Role.VIEWER.value, TOKEN) and at_least(user.role, Role.VIEWER):
        return None
    return _refusal(503, f"{message}, so only viewing is allowed until it is back; nothing was changed")


def _polling() -> bool:
    """A callback request an open page sends by itself (sessions.is_polling), which must not renew the idle clock.
    The JSON parse is Werkzeug's cached one that _check_callback and Dash use anyway."""
    if request.endpoint != CALLBACK_ENDPOINT:
        return False
    return sessions.is_polling(request.args, request.get_json(silent=True))


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL or an Origin value, lower-cased, without a default port ("" if none)."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return ""
    scheme, host = parts.scheme.lower(), parts.netloc.rsplit("@", 1)[-1].lower()
    default = DEFAULT_PORTS.get(scheme)
    if default and host.endswith(f":{default}"):
        host = host[: -len(default) - 1]
    return f"{scheme}://{host}"


def _foreign_origin() -> str | None:
    """The page a state-changing request came from, when the browser says so and it is not this server.

    The served origin is the request's own scheme and Host, as ProxyFix rewrote them behind trusted proxies.
    The double-submit token alone is not enough: the _csrf_token cookie is readable by script (Dash's renderer
    reads it), and cookies are shared by every port of a host, so a page on another port could read it."""
    claimed = request.headers.get("Origin")
    if claimed is None:
        referer = request.headers.get("Referer")
        if not referer:
            return None  # neither header: not a browser's cross-site request (the token still has to match)
        claimed = referer
    served = origin_of(f"{request.scheme}://{request.host}")
    return None if origin_of(claimed) == served and served else (claimed.strip()[:100] or "an unknown page")


def _foreign_refusal() -> Response | None:
    foreign = _foreign_origin()
    if foreign is None:
        return None
    log.warning("refused a %s to %s from another origin: %s", request.method, request.path, foreign)
    return _refusal(403, f"this request came from {foreign}, not from this server "
                         f"({request.scheme}://{request.host}): refused. Behind a TLS proxy, set "
                         "REGIMEDESK_TRUSTED_PROXIES so the server sees its public address")


def logout_refusal() -> Response | None:
    """/logout needs neither a live session nor a matching CSRF token, only a same-origin request: the view ends
    whatever session the request carries and shows the login page. A stale tab (its form holds the token of a
    session replaced by a newer login, or the session expired) got raw JSON 403/401 and stayed logged in.

    Why that cannot be abused: logging out is the request's only effect, and only for the session its own cookie
    carries. A cross-site page cannot make the browser send that cookie with a POST (SameSite=Lax), and a
    browser's cross-site POST says where it came from (Origin), which is refused here as for any other POST; the
    worst a forged logout could do is make the user log in again, never act as them or keep them logged in."""
    return _foreign_refusal()


def _csrf_refusal() -> Response | None:
    if request.method in SAFE_METHODS:
        return None
    foreign = _foreign_refusal()
    if foreign is not None:
        return foreign
    given = request.headers.get("X-CSRFToken")
    if given is None and request.endpoint in FORM_ENDPOINTS and request.mimetype == "application/x-www-form-urlencoded":
        given = request.form.get("csrf_token")
    if sessions.csrf_ok(given):
        return None
    return _refusal(403, "missing or wrong CSRF token: reload the page and try again")


def _check_callback(server: Flask, user_name: str, role: str) -> Response | None:
    try:
        body = request.get_json()  # not silent: Werkzeug caches this parse for Dash's own get_json()
    except RequestEntityTooLarge:
        raise  # over the upload limit: the app's 413 handler answers with the limit's message
    except HTTPException:  # not JSON, or not a JSON content type
        body = None
    output = body.get("output") if isinstance(body, dict) else None
    if not isinstance(output, str):
        return _refusal(400, "a callback request needs a JSON body with an 'output' string")
    callbacks = _callback_map(server)
    needed = callback_role(callbacks, output)
    if needed is None:
        _audit_refusal(user_name, output, "undeclared", role)
        return _refusal(403, "this callback has no declared role and is refused")
    if not at_least(role, needed):
        _audit_refusal(user_name, output, needed, role)
        return _refusal(403, f"this action needs the {needed} role; you are {role}")
    if not callable(callbacks[output].get("callback")):  # a clientside callback (Dash's _pages_dummy): Dash's
        # KeyError would log a traceback per forged request, so any viewer could flood the log
        log.warning("refused a server call of the clientside callback %s by %s", output[:100], user_name)
        return _refusal(400, "this callback runs in the browser: there is nothing to call on the server")
    return None


def _audit_logout(name: str, role: str, reason: str, action: str) -> None:
    ctx = get_context()
    try:
        with principal.acting_as(principal.Principal(name, role, _source())), ctx.store.write() as s:
            audit.record(s, ctx.clock.now(), f"web:{name}", action, target=name, details={"reason": reason})
    except Exception:  # noqa: BLE001 - the session ends even when the store cannot record it (an outage)
        log.exception("could not audit the end of %s's session", name)
