"""Name -> factory registries for tasks, protocols and backends.

Factories register under a kind and a name; an unknown name lists the known ones. The package that owns a
kind is imported on first use (its modules register themselves), so callers need no side-effect imports.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from oversight.errors import ConfigError

_REGISTRY: dict[str, dict[str, Callable[..., Any]]] = {}
_OWNERS = {"protocol": "protocols", "task": "tasks"}
"""The package whose import registers every factory of a kind (backends: `oversight.models.load_backend`)."""


def register(kind: str, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
        _REGISTRY.setdefault(kind, {})[name] = factory
        return factory

    return decorate


def _load(kind: str) -> None:
    if kind in _OWNERS:
        importlib.import_module(_OWNERS[kind])


def lookup(kind: str, name: str) -> Callable[..., Any]:
    _load(kind)
    known = _REGISTRY.get(kind, {})
    if name not in known:
        raise ConfigError(f"unknown {kind} {name!r}; known {kind}s: {', '.join(sorted(known)) or 'none'}")
    return known[name]


def names(kind: str) -> list[str]:
    _load(kind)
    return sorted(_REGISTRY.get(kind, {}))
