"""The login, logout and first-run setup pages: plain HTML forms served by Flask, not Dash.

They post `username`, `password` and a hidden `csrf_token` (checked by the guard). Failed logins per client
address (an IPv6 address's /64) are rate-limited (login_throttle: a slot taken before the password is checked, given
back by a successful login); lockouts per (user name, client address) are kept in the store (engine.auth.users).
The client address is request.remote_addr, which ProxyFix rewrites from X-Forwarded-For only behind
REGIMEDESK_TRUSTED_PROXIES. /logout ends this session only; /logout/everywhere every session of the user
(engine.auth.user_sessions).
"""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Flask, abort, redirect, render_template_string, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import current_user
from werkzeug.wrappers import Response  # what flask.redirect returns (flask.Response is its subclass)

from engine.auth import attempts, principal, setup_token, user_sessions, users
from engine.auth.passwords import WeakPassword
from engine.auth.roles import Role
from webapp.auth import sessions
from webapp.auth.login_throttle import LoginThrottle
from webapp.context import get_context

log = logging.getLogger(__name__)
TOO_MANY = "too many failed logins from this address; wait a minute and try again"
ENDED_EVERYWHERE = "ended"  # /login?ended=...: the login page says every session of the user ended

FORM_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }} · RegimeDesk</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/0-bootstrap-5.3.6.min.css"></head>
<body class="bg-light"><main class="container" style="max-width: 26rem; margin-top: 8vh">
<h1 class="h3 mb-3">RegimeDesk</h1><h2 class="h5 mb-3">{{ title }}</h2>
{% if message %}<div class="alert alert-{{ colour }} py-2" id="auth-message" role="alert">{{ message }}</div>{% endif %}
{% if show_form %}
<form method="post" action="{{ action }}" id="auth-form">
<input type="hidden" name="csrf_token" value="{{ csrf }}">
{% if token %}<input type="hidden" name="token" value="{{ token }}">{% endif %}
<input type="hidden" name="next" value="{{ next }}">
<div class="mb-2"><label class="form-label" for="username">User name</label>
<input class="form-control" id="username" name="username" autocomplete="username" required maxlength="64"
 autocapitalize="none" spellcheck="false" value="{{ username }}"></div>
<div class="mb-3"><label class="form-label" for="password">Password</label>
<input class="form-control" id="password" name="password" type="password" required maxlength="256"
 autocomplete="{{ 'new-password' if token else 'current-password' }}"></div>
{% if token %}<div class="mb-3"><label class="form-label" for="password2">Password again</label>
<input class="form-control" id="password2" name="password2" type="password" required maxlength="256"
 autocomplete="new-password"></div>
<p class="small text-muted">This creates the first <b>admin</b>. At least 12 characters, not the name itself.</p>{% endif %}
<button class="btn btn-primary w-100" id="auth-submit" type="submit">{{ button }}</button>
</form>{% endif %}
</main></body></html>"""


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect after login would hand a phishing page a trusted link."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


def _page(title: str, *, message: str = "", colour: str = "danger", status: int = 200, show_form: bool = True,
          action: str = "/login", button: str = "Log in", token: str = "", username: str = "",
          next_: str = "/") -> tuple[str, int]:
    return render_template_string(FORM_PAGE, title=title, message=message, colour=colour, show_form=show_form,
                                  action=action, button=button, token=token, username=username, next=next_,
                                  csrf=sessions.csrf_token()), status


def _address_key() -> str:
    """The rate limit's key: the client address, an IPv6 one by its /64 (engine.auth.attempts.address_bucket)."""
    return attempts.address_bucket(get_remote_address())


def _claim_slot(throttle: LoginThrottle) -> list[tuple[str, str]]:
    """A slot of this address's failed-login windows, or abort: 429 when one is full, 503 when the limit's storage
    (Redis) does not answer (refused, as the limit cannot be checked; never a 500)."""
    try:
        taken = throttle.claim(_address_key())
    except throttle.unavailable as exc:
        log.error("login refused: the login rate limit's storage is unreachable (%s)", type(exc).__name__)
        abort(503, description="logins cannot be checked right now (the rate limit's storage, Redis, is "
                               "unreachable); try again shortly")
    if taken is None:
        abort(429, description=TOO_MANY)
    return taken


def _give_back(throttle: LoginThrottle, taken: list[tuple[str, str]]) -> None:
    try:
        throttle.give_back(taken)
    except throttle.unavailable as exc:  # the login stands; its slot stays counted until the window moves on
        log.warning("could not give back a successful login's rate-limit slot (%s)", type(exc).__name__)


def register_auth_pages(server: Flask, settings_rate_limit: str, storage_uri: str, setup_allowed: bool,
                        session_max_s: float = 12 * 3600.0) -> Limiter:
    limiter = Limiter(_address_key, app=server, storage_uri=storage_uri or "memory://",
                      default_limits=[], strategy="moving-window")
    throttle = LoginThrottle(settings_rate_limit, limiter.storage)

    # not flask-limiter's deduct_when (tested before, counted after the response: a burst passed in full): the
    # slot is taken before the password is checked and a successful login gives it back (login_throttle)
    @server.route("/login", methods=["GET", "POST"], endpoint="auth_login")
    def login() -> Response | tuple[str, int]:
        next_ = _safe_next(request.values.get("next"))
        ctx = get_context()
        if request.method == "GET":
            if current_user.is_authenticated:
                return redirect(next_)
            if users.count_users(ctx.store) == 0:
                hint = ("No user exists yet. Open the setup link printed on the console where RegimeDesk was "
                        "started, or run: python -m engine users add NAME --role admin --password-stdin")
                return _page("Log in", message=hint, colour="info", next_=next_)
            if request.args.get("ended") == ENDED_EVERYWHERE:
                return _page("Log in", message="You are logged out on every browser and device.", colour="info",
                             next_=next_)
            return _page("Log in", next_=next_)
        taken = _claim_slot(throttle)
        name = request.form.get("username", "")
        outcome = users.authenticate(ctx.store, ctx.clock.now(), name, request.form.get("password", ""),
                                     principal.current().source)
        if not outcome.ok or outcome.user is None:  # one status for unknown, wrong and locked: no name oracle
            return _page("Log in", message=outcome.message, status=401, username=users.storable(name),
                         next_=next_)
        _give_back(throttle, taken)  # only failed logins count towards the address's limit
        sessions.start(outcome.user)
        return redirect(next_)

    @server.route("/logout", methods=["POST"], endpoint="auth_logout")
    def logout() -> Response:
        """End the session this request carries (only this one: the user's other browsers and devices stay logged
        in), on the server (user_sessions.end_session: a copy of the cookie is refused too) and in the browser,
        then show the login page; with no live session (expired, ended elsewhere) just the latter.

        The guard lets a same-origin logout through without a valid CSRF token (guard.logout_refusal says why
        that is safe): a tab opened before a re-login in another tab posts the token of the session it was
        rendered in, and refusing it answered raw JSON and left the user logged in at a shared desk."""
        if current_user.is_authenticated:
            ctx = get_context()
            who = principal.current()
            user_sessions.end_session(ctx.store, ctx.clock.now(), who.actor, int(current_user.user_id), who.name,
                                      str(current_user.sid), sessions.keep_ended_until(session_max_s))
        sessions.end()
        return redirect("/login")

    @server.route("/logout/everywhere", methods=["POST"], endpoint="auth_logout_everywhere")
    def logout_everywhere() -> Response:
        """Log out everywhere: end every session of the logged-in user (every browser and device, this one too),
        audited as the user (user_sessions.end_all_sessions). Needs a live session and its CSRF token (guard)."""
        if current_user.is_authenticated:
            ctx = get_context()
            who = principal.current()
            user_sessions.end_all_sessions(ctx.store, ctx.clock.now(), who.actor, int(current_user.user_id),
                                           who.name)
        sessions.end()
        return redirect(f"/login?ended={ENDED_EVERYWHERE}")

    @server.route("/setup", methods=["GET", "POST"], endpoint="auth_setup")
    @limiter.limit(settings_rate_limit, methods=["POST"])
    def setup() -> Response | tuple[str, int]:
        ctx = get_context()
        token = request.values.get("token", "")
        closed = "The first-run setup is closed: a user exists already. Log in instead."
        if not setup_allowed:
            return _page("Setup", message="The first-run setup is only offered on a loopback address; use "
                         "python -m engine users add", status=404, show_form=False)
        if users.count_users(ctx.store) > 0:
            return _page("Setup", message=closed, status=403, show_form=False)
        if not setup_token.valid(ctx.store, token):
            return _page("Setup", message="This setup link is not valid: use the link printed on the console "
                         "where RegimeDesk was started", status=403, show_form=False)
        if request.method == "GET":
            return _page("Create the first admin", action="/setup", button="Create admin and log in", token=token,
                         colour="info", message="Welcome. Choose the admin's name and password.")
        name, password = request.form.get("username", ""), request.form.get("password", "")
        if password != request.form.get("password2", ""):
            return _page("Create the first admin", message="the two passwords differ", status=400, action="/setup",
                         button="Create admin and log in", token=token, username=name[:64])
        try:
            user = users.add_user(ctx.store, ctx.clock.now(), f"web:{name}"[:64], name, Role.ADMIN, password,
                                  only_if_none=True)
        except (users.UserError, WeakPassword) as exc:
            return _page("Create the first admin", message=str(exc), status=400, action="/setup",
                         button="Create admin and log in", token=token, username=name[:64])
        setup_token.revoke(ctx.store)
        sessions.start(user)
        return redirect("/")

    return limiter
