"""Who may call what: a declared role for every Flask route and every Dash callback.

Callbacks declare their role with `@requires(role)` placed under `@dash.callback(...)`; Dash keeps
the decorated function (reachable from `app.callback_map[output]["callback"].__wrapped__`), so the
guard reads the role off the function the request would run. Flask routes are declared by endpoint
name in ROUTE_ACCESS. Anything undeclared is refused (fail closed), and a test enumerates the app's
routes and callbacks so a new one cannot be forgotten.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from engine.auth import principal
from engine.auth.roles import Role, at_least

F = TypeVar("F", bound=Callable[..., Any])

PUBLIC = "public"  # anyone, logged in or not (login page, static files, liveness)
TOKEN = "token"  # the metrics bearer token, or a logged-in session
ROLE_ATTRIBUTE = "regimedesk_required_role"

# Flask endpoints (not paths) and who may call them. Dash's own routes are prefixed by the app's
# routes_pathname_prefix ("/"), so their endpoint names are stable.
ROUTE_ACCESS: dict[str, str] = {
    # anyone: what the login page itself needs, and the load balancer's probes
    "static": PUBLIC,
    "_dash_assets.static": PUBLIC,
    "/_dash-component-suites/<string:package_name>/<path:fingerprinted_path>": PUBLIC,
    "/_favicon.ico": PUBLIC,
    "/_reload-hash": PUBLIC,
    "auth_login": PUBLIC,
    "auth_setup": PUBLIC,
    "healthz": PUBLIC,
    "readyz": PUBLIC,
    # a logged-in user (the callback route checks each callback's own role on top)
    "auth_logout": Role.VIEWER,
    "auth_logout_everywhere": Role.VIEWER,
    "/": Role.VIEWER,
    "/<path:path>": Role.VIEWER,
    "/_dash-layout": Role.VIEWER,
    "/_dash-dependencies": Role.VIEWER,
    "/_dash-update-component": Role.VIEWER,
    "api_health": Role.VIEWER,
    "api_state": Role.VIEWER,
    "audit_csv": Role.TRADER,
    # Prometheus: bearer token or a session
    "metrics": TOKEN,
}

# Callbacks Dash registers itself (multi-page routing): reading the page layout is a viewer's right.
FRAMEWORK_CALLBACKS: Mapping[str, str] = {
    ".._pages_content.children..._pages_store.data..": Role.VIEWER,
    "_pages_dummy.children": Role.VIEWER,
    # Dash's own cancel callback of the Regime page's what-if (a background callback with cancel=...)
    "regime-whatif-cancel.id": Role.VIEWER,
    # ... and of the Backtest page's run (cancelling a run is as harmless as cancelling the what-if)
    "backtest-cancel.id": Role.VIEWER,
    # ... and of the Parameters page's validation by backtest (only a trader can start one)
    "parameters-tuning-cancel.id": Role.TRADER,
}


def requires(role: str | Role) -> Callable[[F], F]:
    """Declare the role a callback needs; place it directly under `@dash.callback(...)`."""
    needed = Role(role).value

    def mark(func: F) -> F:
        setattr(func, ROLE_ATTRIBUTE, needed)
        return func

    return mark


def callback_role(callback_map: Mapping[str, Any], output: str) -> str | None:
    """The role declared for the callback answering `output`, or None when there is none (refuse)."""
    entry = callback_map.get(output)
    if entry is None:
        return None
    func = entry.get("callback")
    original = getattr(func, "__wrapped__", func)
    role = getattr(original, ROLE_ATTRIBUTE, None)
    if role is not None:
        return str(role)
    framework_role = FRAMEWORK_CALLBACKS.get(output)
    return str(framework_role) if framework_role is not None else None


def route_access(endpoint: str | None) -> str | None:
    return ROUTE_ACCESS.get(endpoint) if endpoint else None


def role_gate(role: Role) -> dict[str, Any]:
    """A button's props for the logged-in user: enabled when their role may use it, else disabled with a title
    saying which role it needs. Only a courtesy (a click would be refused with 403 and audited); the guard checks
    the callback's own @requires whatever the page shows."""
    current = principal.current().role
    if at_least(current, role):
        return {"disabled": False}
    return {"disabled": True, "title": f"needs the {role.value} role; you are {current or 'not logged in'}"}
