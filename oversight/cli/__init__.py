"""The `oversight` command line."""

from oversight.cli.app import app, main

__all__ = ["app", "main"]
