"""Protocols: one class per protocol, each a generator over one question."""

from protocols import consultancy, debate, direct  # noqa: F401  (registers the protocols)
from protocols.base import Protocol

__all__ = ["Protocol"]
