"""Login, roles and request checks for the web: every Flask route and Dash callback passes through here.

`init_auth(app, settings, store)` wires it: the guard (webapp.auth.guard), the login/logout/setup
pages (webapp.auth.pages), flask-login sessions (webapp.auth.sessions) and the security headers.
"""
