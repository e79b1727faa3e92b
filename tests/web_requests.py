"""Hand-crafted Dash callback requests, built from the app's own /_dash-dependencies like the
browser's renderer builds them, so tests can do by HTTP what a client without a browser can do."""
from __future__ import annotations

import json
from typing import Any

CALLBACK_URL = "/_dash-update-component"


class Matches(list):  # type: ignore[type-arg]
    """Values for a pattern-matching (ALL) input: a list of ({id key: value}, value) pairs."""


def split_outputs(output: str) -> list[tuple[Any, str]]:
    """(id, property) pairs of a callback's output key ("a.p" or "..a.p...b.q.."); dict ids decoded."""
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    pairs = []
    for part in parts:
        ident, prop = part.rsplit(".", 1)
        pairs.append((json.loads(ident) if ident.startswith("{") else ident, prop))
    return pairs


def _is_wildcard(ident: Any) -> bool:
    return isinstance(ident, dict) and any(isinstance(v, list) for v in ident.values())


def _concrete(ident: Any) -> Any:
    """A wildcard id ({"type": "x", "index": ["ALL"]}) made concrete with index 1."""
    if not isinstance(ident, dict):
        return ident
    return {k: (1 if isinstance(v, list) else v) for k, v in ident.items()}


def _entry(spec: dict[str, Any], value: Any) -> Any:
    ident = spec["id"]
    if isinstance(ident, str) and ident.startswith("{"):
        ident = json.loads(ident)
    if _is_wildcard(ident):
        if isinstance(value, Matches):
            return [{"id": {**_concrete(ident), **key}, "property": spec["property"], "value": v} for key, v in value]
        return [{"id": _concrete(ident), "property": spec["property"], "value": value}]
    return {"id": ident, "property": spec["property"], "value": value}


def build_body(dep: dict[str, Any], values: dict[int, Any] | None = None, changed: int = 0) -> dict[str, Any]:
    """A callback request for dependency `dep`; values maps positions in inputs+state to values (default None)."""
    values = values or {}
    specs = dep["inputs"] + dep["state"]
    entries = [_entry(spec, values.get(i)) for i, spec in enumerate(specs)]
    outputs = []
    for ident, prop in split_outputs(dep["output"]):
        outputs.append([] if _is_wildcard(ident) else {"id": ident, "property": prop.split("@")[0]})
    first = dep["inputs"][changed] if dep["inputs"] else None
    changed_ids = []
    if first is not None:
        ident = first["id"]
        ident_obj = json.loads(ident) if isinstance(ident, str) and ident.startswith("{") else ident
        key = json.dumps(_concrete(ident_obj), sort_keys=True, separators=(",", ":")) if isinstance(ident_obj, dict) \
            else ident_obj
        changed_ids = [f"{key}.{first['property']}"]
    return {
        "output": dep["output"],
        "outputs": outputs if dep["output"].startswith("..") else outputs[0],
        "inputs": entries[:len(dep["inputs"])],
        "state": entries[len(dep["inputs"]):],
        "changedPropIds": changed_ids,
    }


def dependencies(client: Any) -> list[dict[str, Any]]:
    response = client.get("/_dash-dependencies")
    assert response.status_code == 200, response.status_code
    return list(response.get_json())


def first_refresh(client: Any, output: str) -> dict[str, Any]:
    """The response of the one callback that writes `output` (e.g. "trading-orders.children"), called as the
    page's first interval tick; asserts it is the only writer and is driven by the Trading interval alone."""
    writers = [d for d in dependencies(client) if output in d["output"]]
    assert len(writers) == 1, [d["output"] for d in writers]  # the page's section refresh no longer draws it
    table = writers[0]
    assert [i["id"] for i in table["inputs"]] == ["trading-interval"]
    first = client.post(CALLBACK_URL, json=build_body(table, {0: 1, 1: None}))
    assert first.status_code == 200, first.get_data(as_text=True)[:500]
    return {"callback": table, "response": first.get_json()["response"]}


def find(deps: list[dict[str, Any]], output_contains: str, input_contains: str = "") -> dict[str, Any]:
    """The one dependency whose output key contains `output_contains` (and an input id containing `input_contains`)."""
    hits = [d for d in deps if output_contains in d["output"]
            and (not input_contains or any(input_contains in str(i["id"]) for i in d["inputs"]))]
    assert len(hits) == 1, [d["output"] for d in hits]
    return hits[0]


def position(dep: dict[str, Any], component_id: str, prop: str) -> int:
    for i, spec in enumerate(dep["inputs"] + dep["state"]):
        if spec["id"] == component_id and spec["property"] == prop:
            return i
    raise KeyError(f"{component_id}.{prop} is not an input or state of {dep['output']}")


def call(client: Any, dep: dict[str, Any], values: dict[str, Any] | None = None, trigger: str | None = None) -> Any:
    """POST the callback with named values ({"component.prop": value}); `trigger` names the changed input."""
    values = values or {}
    by_position = {position(dep, *name.rsplit(".", 1)): v for name, v in values.items()}
    changed = 0
    if trigger is not None:
        changed = next(i for i, spec in enumerate(dep["inputs"]) if f"{spec['id']}.{spec['property']}" == trigger)
    return client.post(CALLBACK_URL, json=build_body(dep, by_position, changed))


def page_layouts(client: Any) -> list[Any]:
    """Every registered page's layout as the router serves it (one response per page, each checked 200)."""
    import dash

    router = find(dependencies(client), "_pages_content.children")
    responses = []
    for page in dash.page_registry.values():
        response = call(client, router, {"_pages_location.pathname": page["path"]})
        assert response.status_code == 200, page["path"]
        responses.append(response)
    return responses
