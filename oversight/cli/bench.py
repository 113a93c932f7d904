"""`oversight bench`: the performance benchmarks of the checkout's benchmarks/ folder."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from oversight.errors import ConfigError

BENCHMARKS = ("overhead", "batching", "server", "prefix", "judge_prefix", "cost", "memory", "cpu_engine")
PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}
"""Click settings that hand every argument after NAME to the benchmark unparsed."""


def bench(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help=f"Benchmark: {', '.join(BENCHMARKS)}; further arguments go to it "
                                        "(`oversight bench cost -- --help`).")],
) -> None:
    """Run a performance benchmark from the checkout's benchmarks/ (same as `python -m benchmarks.NAME`)."""
    import importlib

    if name not in BENCHMARKS:
        raise ConfigError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # the checkout, as `python -m benchmarks.NAME` would see it
    try:
        module = importlib.import_module(f"benchmarks.{name}")
    except ModuleNotFoundError as exc:
        raise ConfigError(f"benchmarks are not installed with the package; run `oversight bench` from the "
                          f"repository checkout (the folder holding benchmarks/): {exc}") from exc
    module.main(list(ctx.args))
