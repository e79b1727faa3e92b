"""The web process's EngineContext, reached from callbacks through Flask's app extensions (no globals)."""
from __future__ import annotations

from flask import Flask, current_app

from engine.context import EngineContext

EXTENSION_KEY = "regimedesk"


def attach(server: Flask, ctx: EngineContext) -> None:
    server.extensions[EXTENSION_KEY] = ctx


def get_context() -> EngineContext:
    """The context of the app serving the current request (callbacks run inside a Flask request)."""
    return current_app.extensions[EXTENSION_KEY]


def get_store():
    return get_context().store
