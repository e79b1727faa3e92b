"""Ids of the app shell: the navbar and the 404 page (values are the DOM ids the browser tests use)."""

NAV_LOGOUT = "nav-logout"
NAV_LOGOUT_EVERYWHERE = "nav-logout-everywhere"
NAV_ROLE = "nav-role"
NAV_USER = "nav-user"
NOT_FOUND_PAGE = "not-found-page"
