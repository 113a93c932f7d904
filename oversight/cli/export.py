"""Writing a finished run in another tool's format: `oversight export`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from oversight.cli.console import out
from oversight.errors import ConfigError

FORMATS = {"inspect": "an Inspect eval log, .eval or .json, for `inspect view`"}


def export(
    run_dir: Annotated[str, typer.Argument(metavar="RUN", help="Run folder (config.yaml, transcripts.jsonl).")],
    fmt: Annotated[str, typer.Option("--format", help="Output format: inspect (an Inspect eval log).")],
    out_path: Annotated[Optional[str], typer.Option("--out", help="Output file; for inspect, .eval or .json "
                                                    "(default: RUN/inspect/<run id>.eval).")] = None,
) -> None:
    """Write a run in another tool's format: inspect, an Inspect eval log (one sample per episode, the turns as
    messages, the judge's correctness and P(correct) as scores, the run's config as metadata)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; known formats: "
                          + "; ".join(f"{name} ({what})" for name, what in FORMATS.items()))
    from analysis.inspect_log import write_inspect_log

    path = write_inspect_log(run_dir, out_path)
    # `inspect view` lists every .eval file of a folder, but a .json one only under Inspect's timestamped names
    hint = f" (open it with `inspect view --log-dir {path.parent}`)" if path.suffix == ".eval" else ""
    out.print(f"Inspect log: {path}{hint}", highlight=False)
