"""Callbacks declared at module level, beside the layout they serve, and registered once per app.

`dash.callback` at module level would serve only the first app a process builds (its registrations are
consumed by the app that serves first, and a webapp module is imported once), so a module that pairs a
layout with its callbacks declares them on a `Callbacks` and the app (the shell) or the page (each time
Dash executes it for a new app) calls `register()`:

    callbacks = Callbacks()

    @callbacks(Output(ids.RESULT, "children"), Input(ids.BUTTON, "n_clicks"))
    @requires(Role.VIEWER)
    def press(n): ...

The decorated functions stay plain functions, so tests can call them directly.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import dash

F = TypeVar("F", bound=Callable[..., Any])


class Callbacks:
    """An ordered list of callback declarations: (dependencies and options, function)."""

    def __init__(self) -> None:
        self._declared: list[tuple[tuple[Any, ...], dict[str, Any], Callable[..., Any]]] = []

    def __call__(self, *dependencies: Any, **options: Any) -> Callable[[F], F]:
        def declare(function: F) -> F:
            self._declared.append((dependencies, options, function))
            return function

        return declare

    def __len__(self) -> int:
        return len(self._declared)

    def register(self, app: dash.Dash | None = None) -> None:
        """Register every declared callback with `app`, or with dash.callback (the app being built) when None."""
        for dependencies, options, function in self._declared:
            if app is None:
                dash.callback(*dependencies, **options)(function)
            else:
                app.callback(*dependencies, **options)(function)
