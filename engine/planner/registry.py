"""Stage registries: each module registers itself by name; a stage package is imported whole on first use.

Adding a calculator means adding one file under engine/planner/calculators/ with
`@CALCULATORS.register("name")` (and its `enabled` key in preset_schema): nothing else changes.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Generic, TypeVar

from engine.planner.context import Calculator, Filter, Pattern, SequenceGenerator

F = TypeVar("F", bound=Callable[..., object])


class Registry(Generic[F]):
    def __init__(self, stage: str, package: str) -> None:
        self.stage, self.package = stage, package
        self._modules: dict[str, F] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[F], F]:
        def add(fn: F) -> F:
            self._modules[name] = fn
            return fn
        return add

    def _load(self) -> None:
        if not self._loaded:
            pkg = importlib.import_module(self.package)
            for info in pkgutil.iter_modules(pkg.__path__):
                importlib.import_module(f"{self.package}.{info.name}")
            self._loaded = True

    def names(self) -> tuple[str, ...]:
        self._load()
        return tuple(self._modules)

    def get(self, name: str) -> F:
        self._load()
        return self._modules[name]


CALCULATORS: Registry[Calculator] = Registry("calculators", "engine.planner.calculators")
PATTERNS: Registry[Pattern] = Registry("patterns", "engine.planner.patterns")
SEQUENCES: Registry[SequenceGenerator] = Registry("sequences", "engine.planner.sequences")
FILTERS: Registry[Filter] = Registry("filters", "engine.planner.filters")
