"""Every id a callback names exists in the app shell or in some page's layout.

The app runs with suppress_callback_exceptions=True (pages are swapped in by Dash's router, so most
ids are absent from the first layout); without this test a misspelt id would fail only in a browser.
Layouts are read the way the browser reads them: the shell from /_dash-layout, each page through the
router callback. The few string ids that only another callback's output renders are listed, with
where they are made, in RENDERED_BY_CALLBACKS.
Pattern-matching (dict) ids are created by callbacks by design and are not checked here.
"""
from __future__ import annotations

import json
from typing import Any

import dash

from tests import web_requests as wr
from tests.auth_helpers import login_client

# String ids that exist only inside another callback's output (so in no layout), with where they are made.
RENDERED_BY_CALLBACKS = {
    "parameters-load-latest": "webapp/param_version_callbacks.py: the stale-version alert's button",
}


def _ids(node: Any, out: set[str], types: set[str]) -> None:
    """Collect string ids and dict-id types from a serialised component tree."""
    if isinstance(node, list):
        for child in node:
            _ids(child, out, types)
        return
    if not isinstance(node, dict):
        return
    props = node.get("props")
    if not isinstance(props, dict):  # a response envelope ({"response": {id: {prop: tree}}}): walk its values
        for value in node.values():
            _ids(value, out, types)
        return
    if isinstance(props, dict):
        ident = props.get("id")
        if isinstance(ident, str):
            out.add(ident)
        elif isinstance(ident, dict) and "type" in ident:
            types.add(str(ident["type"]))
        for value in props.values():
            _ids(value, out, types)


def _callback_ids(dep: dict[str, Any]) -> list[Any]:
    idents = [ident for ident, _prop in wr.split_outputs(dep["output"])]
    idents += [item["id"] for item in dep["inputs"] + dep["state"]]
    return [json.loads(i) if isinstance(i, str) and i.startswith("{") else i for i in idents]


def test_every_callback_id_is_in_some_layout(app_client) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    ids: set[str] = set()
    types: set[str] = set()
    shell = client.get("/_dash-layout")
    assert shell.status_code == 200
    _ids(shell.get_json(), ids, types)
    router = wr.find(wr.dependencies(client), "_pages_content.children")
    for page in dash.page_registry.values():
        response = wr.call(client, router, {"_pages_location.pathname": page["path"]})
        assert response.status_code == 200, (page["path"], response.get_data(as_text=True)[:300])
        _ids(response.get_json(), ids, types)
    missing = []
    for dep in wr.dependencies(client):
        for ident in _callback_ids(dep):
            if isinstance(ident, dict):
                continue  # pattern-matching ids (a row's button, a parameter's input) are rendered by callbacks
            if not ident.startswith("_pages") and ident not in ids and ident not in RENDERED_BY_CALLBACKS:
                missing.append(f"{dep['output']}: id {ident!r}")
    assert not missing, "ids named by callbacks but absent from every layout:\n" + "\n".join(sorted(set(missing)))
    assert app is not None


def test_the_id_walk_finds_nested_and_enveloped_ids() -> None:
    tree = {"multi": True, "response": {"x": {"children": {"type": "Div", "props": {"id": "outer", "children": [
        {"type": "Button", "props": {"id": "inner"}}, {"type": "Input", "props": {"id": {"type": "row", "i": 1}}}]}}}}}
    ids: set[str] = set()
    types: set[str] = set()
    _ids(tree, ids, types)
    assert ids == {"outer", "inner"} and types == {"row"}


def test_apps_that_never_served_leave_no_callbacks_behind(test_settings) -> None:  # type: ignore[no-untyped-def]
    """Tests build many apps in one process; each app's dependencies list every callback exactly once."""
    from collections import Counter

    from app import create_app

    create_app(test_settings(), start_engine=False)  # never serves a request
    create_app(test_settings(), start_engine=False)
    app = create_app(test_settings(), start_engine=False)
    outputs = Counter(dep["output"] for dep in wr.dependencies(login_client(app, "admin")))
    assert sum(n for out, n in outputs.items() if "risk-scenario-msg.children" in out) == 1
    assert [out for out, n in outputs.items() if n > 1] == []
