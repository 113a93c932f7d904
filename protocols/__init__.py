"""Protocols: one class per protocol, each a generator over one question."""

from protocols.base import Protocol
from protocols import debate, direct  # noqa: F401  (registers the protocols)

__all__ = ["Protocol"]
