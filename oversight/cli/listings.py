"""What there is to run: `oversight tasks` (and `tasks build`), `oversight protocols`, `oversight models`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from oversight.cli.console import err, out
from oversight.cli.options import AllowCodeExec, Backend, Data, Limit, Seed

tasks_app = typer.Typer(help="The tasks: `oversight tasks` lists them, `oversight tasks build` builds a binary set.")


@tasks_app.callback()
def tasks(ctx: typer.Context) -> None:
    """List the tasks (the default), or build a task's binary set (`build`)."""
    if ctx.invoked_subcommand is None:
        tasks_list()


@tasks_app.command("build")
def tasks_build(
    task: Annotated[str, typer.Argument(help="Task to build: math, code or code-mbpp.")],
    out_file: Annotated[str, typer.Option("--out", help="JSONL file to write (load it with --data FILE).")],
    source: Annotated[str, typer.Option(help="mutate (programs/solutions with one mistake) or sample "
                                        "(math: programs sampled from --model).")] = "mutate",
    model: Annotated[Optional[str], typer.Option(help="Agent model spec for --source sample.")] = None,
    samples: Annotated[int, typer.Option(help="Programs sampled per problem (the study: 32).")] = 32,
    limit: Limit = None, seed: Seed = 0, data: Data = None,
    max_tokens: Annotated[int, typer.Option(help="Token budget per sampled program.")] = 320,
    temperature: Annotated[float, typer.Option(help="Sampling temperature for --source sample.")] = 0.8,
    backend: Backend = "auto",
    allow_code_exec: AllowCodeExec = False,
) -> None:
    """Build TASK's binary set, verify every item by running it in the sandbox, and write it to --out."""
    from oversight.experiments.build import build_task
    from oversight.sandbox import code_execution

    with code_execution(allow_code_exec):
        report = build_task(task, out=out_file, source=source, limit=limit, seed=seed,  # type: ignore[arg-type]
                            data=data, model=model, samples=samples, max_tokens=max_tokens,
                            temperature=temperature, backend=backend, progress=lambda m: err.print(f"[dim]{m}[/dim]"))
    counts = ", ".join(f"{k}: {v}" for k, v in report.counts.items())
    out.print(f"{report.task} ({report.source}): wrote {report.written} of {report.problems} problems to "
              f"{report.out} in {report.seconds:.1f} s ({counts})")


@tasks_app.command("list")
def tasks_list() -> None:
    """List the tasks: family, where the data comes from (a local copy is counted) and size."""
    from rich.table import Column, Table

    from tasks.base import task_infos, task_source

    table = Table("family", "source", "size", "description")
    table.columns.insert(0, Column("task", no_wrap=True))
    for info in task_infos():
        table.add_row(info.name, info.family, *task_source(info.name), info.description)
    out.print(table)


def protocols() -> None:
    """List the protocols."""
    from oversight.registry import lookup, names

    for name in names("protocol"):
        out.print(f"[bold]{name}[/bold]  {(lookup('protocol', name).__doc__ or '').strip().splitlines()[0]}")


def models() -> None:
    """List the embedded models and the backends."""
    from rich.table import Table

    from oversight.models import BACKENDS, default_backend
    from oversight.models.embedded import EMBEDDED

    table = Table("model spec", "role", "description")
    for name, model in EMBEDDED.items():
        table.add_row(f"embedded:{name}", model.role, model.description)
    out.print(table)
    out.print(f"backends: {', '.join(BACKENDS)} (default here: {default_backend()}); "
              "any HF model id or local folder works as backend:model, e.g. vllm:Qwen/Qwen2.5-7B-Instruct")
