"""Name -> factory registries for tasks, protocols and backends.

Factories register under a kind and a name; an unknown name lists the known ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oversight.errors import ConfigError

_REGISTRY: dict[str, dict[str, Callable[..., Any]]] = {}


def register(kind: str, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
        _REGISTRY.setdefault(kind, {})[name] = factory
        return factory

    return decorate


def lookup(kind: str, name: str) -> Callable[..., Any]:
    known = _REGISTRY.get(kind, {})
    if name not in known:
        raise ConfigError(f"unknown {kind} {name!r}; known {kind}s: {', '.join(sorted(known)) or 'none'}")
    return known[name]


def names(kind: str) -> list[str]:
    return sorted(_REGISTRY.get(kind, {}))
