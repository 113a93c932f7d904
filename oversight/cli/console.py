"""Where the commands write: results to stdout, progress and errors to stderr (so stdout can be piped)."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def interrupted() -> NoReturn:
    """Ctrl-C during a run or sweep: what finished is on disk, so say how to resume and exit 130."""
    err.print("interrupted: finished episodes are saved; rerun the same command to resume")
    raise typer.Exit(130) from None
