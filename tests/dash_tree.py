"""Component ids in a Dash layout, for tests that check what a callback drew: `component_ids` walks the
component objects a factory returns, `json_ids` the same tree as a callback's JSON response carries it;
`json_components` yields every component of such a JSON tree, for checks that look at each one."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def nodes(component: Any) -> list[Any]:
    """Every component in a rendered component tree, depth first."""
    found: list[Any] = []
    stack = [component]
    while stack:
        node = stack.pop()
        if isinstance(node, list | tuple):
            stack.extend(reversed(node))
            continue
        found.append(node)
        children = getattr(node, "children", None)
        if children is not None and not isinstance(children, str):
            stack.append(children)
    return found


def component_ids(component: Any) -> list[Any]:
    """Every id in a rendered component tree, depth first."""
    return [ident for node in nodes(component) if (ident := getattr(node, "id", None)) is not None]


def json_ids(tree: Any) -> list[Any]:
    """Every component id in a layout as JSON, depth first."""
    if isinstance(tree, list):
        return [i for child in tree for i in json_ids(child)]
    if not isinstance(tree, dict):
        return []
    props = tree.get("props", {})
    own = [props["id"]] if "id" in props else []
    return own + json_ids(props.get("children"))


def json_components(node: Any) -> Iterator[tuple[Any, dict[str, Any]]]:
    """(type, props) of every component anywhere in a serialised tree (a response, a layout), parents first.

    Every prop is walked, not only children: grids, tabs and tooltips hold components in other props.
    """
    if isinstance(node, list):
        for child in node:
            yield from json_components(child)
        return
    if not isinstance(node, dict):
        return
    props = node.get("props")
    if not isinstance(props, dict):
        for value in node.values():
            yield from json_components(value)
        return
    yield node.get("type"), props
    for value in props.values():
        yield from json_components(value)
