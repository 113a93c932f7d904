"""One error family. Every message says what was wrong, the value received, and the fix.

The CLI prints an `OversightError` without a traceback and exits with code 2.
"""

from __future__ import annotations

EXIT_BAD_INPUT = 2


class OversightError(Exception):
    """Base class for every error the user can fix."""


class ConfigError(OversightError):
    """A bad CLI flag, config value or model spec."""


class DataError(OversightError):
    """A dataset that is missing, unreadable or malformed."""


class BackendError(OversightError):
    """A model backend that failed (missing dependency, bad model, server fault)."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
