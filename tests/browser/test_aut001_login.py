"""Login in a real browser: log in, see the pages, log out; a viewer sees the kill switch but not the
trader controls, and a request crafted from the viewer's own page for a trader action is refused."""
from __future__ import annotations

import time

from engine.trading import state as ts
from tests.auth_helpers import PASSWORDS, browser_login, ensure_user
from webapp.context import EXTENSION_KEY


def _state(app) -> str:  # type: ignore[no-untyped-def]
    with app.server.extensions[EXTENSION_KEY].store.read() as s:
        return ts.current(s).state.value


def test_aut001_login_pages_logout(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    app = embedded_app(autotrade=False)
    name, password = ensure_user(app, "trader", "tess")
    dash_duo.start_server(app, navigate=False)
    base = dash_duo.server.url.rstrip("/")
    dash_duo.driver.get(base + "/trading")
    dash_duo.wait_for_element("#auth-form", timeout=15)  # sent to the login page, not the dashboard
    assert "/login" in dash_duo.driver.current_url
    dash_duo.find_element("#username").send_keys(name)
    dash_duo.find_element("#password").send_keys("wrong-password-123")
    dash_duo.find_element("#auth-submit").click()
    dash_duo.wait_for_contains_text("#auth-message", "wrong user name or password", timeout=10)
    dash_duo.find_element("#username").clear()
    dash_duo.find_element("#username").send_keys(name)
    dash_duo.find_element("#password").send_keys(password)
    dash_duo.find_element("#auth-submit").click()
    dash_duo.wait_for_element("#trading-pause-button", timeout=20)  # back where the user wanted to go
    assert dash_duo.driver.current_url.endswith("/trading")
    dash_duo.wait_for_text_to_equal("#nav-user", "tess", timeout=10)
    dash_duo.get_logs()  # drops the log so far: the wrong password's 401 on /login is logged by the browser
    for path, selector in (("/", "#overview-prices"), ("/audit", "#audit-count"), ("/health", "#health-jobs")):
        dash_duo.driver.get(base + path)
        dash_duo.wait_for_element(selector, timeout=15)
    assert [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"] == []
    dash_duo.find_element("#nav-logout").click()
    dash_duo.wait_for_element("#auth-form", timeout=10)
    dash_duo.driver.get(base + "/trading")
    dash_duo.wait_for_element("#auth-form", timeout=10)  # logged out: the dashboard is closed again


def test_aut002_viewer_has_the_kill_switch_but_not_the_trader_controls(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    app = embedded_app(autotrade=False)
    browser_login(dash_duo, app, role="viewer", path="/trading")
    dash_duo.wait_for_element("#trading-viewer-note", timeout=15)
    assert dash_duo.find_element("#trading-kill-button").is_displayed()
    for hidden in ("#trading-pause-button", "#trading-resume-button", "#trading-shutdown-button",
                   "#trading-ticket-submit"):
        assert not dash_duo.find_element(hidden).is_displayed(), hidden
    assert PASSWORDS["viewer"]  # the viewer logged in with the password ensure_user gave them
    # the viewer forges a pause from their own page (what a person with devtools could do): refused by the server
    script = """
        const done = arguments[arguments.length - 1];
        const token = document.cookie.split('; ').find(c => c.startsWith('_csrf_token=')).split('=')[1];
        fetch('/_dash-dependencies').then(r => r.json()).then(deps => {
            const dep = deps.find(d => d.inputs.some(i => i.id === 'trading-pause-button'));
            const inputs = dep.inputs.map(i => Array.isArray(i.id) ? [] :
                ({id: i.id, property: i.property, value: i.id === 'trading-pause-button' ? 1 : null}));
            return fetch('/_dash-update-component', {method: 'POST',
                headers: {'Content-Type': 'application/json', 'X-CSRFToken': token},
                body: JSON.stringify({output: dep.output, outputs: [], inputs: inputs,
                    state: dep.state.map(s => ({id: s.id, property: s.property, value: null})),
                    changedPropIds: ['trading-pause-button.n_clicks']})});
        }).then(r => done(r.status)).catch(e => done(String(e)));
    """
    assert dash_duo.driver.execute_async_script(script) == 403
    assert _state(app) == "ACTIVE"
    dash_duo.wait_for_text_to_equal("#app-request-refused", "this action needs the trader role; you are viewer",
                                     timeout=10)
    # the kill switch is the viewer's: HALT (without flatten) works from the banner
    dash_duo.find_element("#banner-kill-button").click()
    dash_duo.wait_for_element("#banner-kill-confirm", timeout=5).click()
    deadline = time.time() + 15
    while _state(app) != "HALTED":
        assert time.time() < deadline, "the viewer's kill switch did not halt"
        time.sleep(0.1)
    dash_duo.wait_for_contains_text("#banner-state", "HALTED", timeout=10)


def test_aut003_log_out_everywhere_ends_the_users_other_sessions(dash_duo, embedded_app) -> None:  # type: ignore[no-untyped-def]
    """Two sessions of one trader: a browser and another device (a requests session through the real /login form).
    Log out in the browser ends only the browser's session; Log out everywhere, pressed in a second browser
    login, ends the other device's too."""
    from tests.integration.test_ops_audit_redis_kill import login  # local import: its requests login

    app = embedded_app(autotrade=False)
    browser_login(dash_duo, app, role="trader")
    base = dash_duo.server.url.rstrip("/")
    device = login(base, app, "trader")
    assert device.get(base + "/trading", allow_redirects=False, timeout=30).status_code == 200
    dash_duo.find_element("#nav-logout").click()  # this browser only
    dash_duo.wait_for_element("#auth-form", timeout=10)
    assert device.get(base + "/trading", allow_redirects=False, timeout=30).status_code == 200  # still logged in
    name, password = ensure_user(app, "trader")  # the browser logs in again (the same server)
    dash_duo.find_element("#username").send_keys(name)
    dash_duo.find_element("#password").send_keys(password)
    dash_duo.find_element("#auth-submit").click()
    dash_duo.wait_for_element("#nav-logout-everywhere", timeout=20).click()
    dash_duo.wait_for_contains_text("body", "You are logged out on every browser and device", timeout=10)
    deadline = time.time() + 10  # other web processes see it within 2 s; this is the same process
    while device.get(base + "/trading", allow_redirects=False, timeout=30).status_code == 200:
        assert time.time() < deadline, "the other device's session was not ended"
        time.sleep(0.2)
    assert device.get(base + "/trading", allow_redirects=False, timeout=30).status_code in (302, 401)
