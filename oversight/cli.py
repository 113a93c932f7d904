"""The `oversight` command line. It only wires: parsing here, work in the library.

Heavy imports (torch, vLLM, pandas) happen inside command bodies so `oversight --help` stays fast.
"""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer
from rich.console import Console

from oversight.config import RunConfig
from oversight.errors import EXIT_BAD_INPUT, OversightError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Scalable-oversight experiments: debate, consultancy and direct QA with weak judges.")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)



def _default(field: str) -> object:
    """CLI defaults come from RunConfig, where each option is documented once."""
    return RunConfig.model_fields[field].default


Limit = Annotated[Optional[int], typer.Option(help="Number of questions (seeded sample); default all.",
                                              rich_help_panel="Data")]
Seed = Annotated[int, typer.Option(help="Seed for the question sample, answer order and sampling.",
                                   rich_help_panel="Data")]
Task = Annotated[str, typer.Option("--task", "-t", help="Task name (see `oversight tasks`).", rich_help_panel="Data")]
Data = Annotated[Optional[str], typer.Option(help="Local data file or folder (default: $OVERSIGHT_DATA_DIR, "
                                             "else the Hugging Face hub).", rich_help_panel="Data")]
Order = Annotated[str, typer.Option(help="Answer order: random | both | fixed.", rich_help_panel="Protocol")]
Rounds = Annotated[int, typer.Option(help="Debate rounds.", rich_help_panel="Protocol")]
WordLimit = Annotated[int, typer.Option(help="Words per argument; longer ones are cut (the study: 150).",
                                        rich_help_panel="Protocol")]
Turns = Annotated[str, typer.Option(help="Debate turns: simultaneous | sequential.", rich_help_panel="Protocol")]
Judge = Annotated[str, typer.Option(help="Judge model spec, backend:model.", rich_help_panel="Models")]
Debater = Annotated[str, typer.Option(help="Debater model spec, backend:model.", rich_help_panel="Models")]
Consultant = Annotated[Optional[str], typer.Option(help="Consultant model spec (default: the debater model).",
                                                   rich_help_panel="Models")]
Backend = Annotated[str, typer.Option(help="Backend for specs without one: auto | vllm | hf | scripted.",
                                      rich_help_panel="Models")]
MaxTokens = Annotated[int, typer.Option(help="Token budget per agent turn.", rich_help_panel="Models")]
Temperature = Annotated[float, typer.Option(help="Agent sampling temperature.", rich_help_panel="Models")]
Out = Annotated[str, typer.Option(help="Parent folder of run folders.", rich_help_panel="Output")]
Name = Annotated[Optional[str], typer.Option(help="Run folder name (default: derived from the config; "
                                             "rerunning resumes).", rich_help_panel="Output")]


@app.command()
def run(
    protocol: Annotated[str, typer.Argument(help="Protocol (see `oversight protocols`).")],
    task: Task = "math", limit: Limit = None, seed: Seed = _default("seed"), data: Data = None,
    order: Order = _default("order"), rounds: Rounds = _default("rounds"), turns: Turns = _default("turns"),
    word_limit: WordLimit = _default("word_limit"), judge: Judge = _default("judge"),
    debater: Debater = _default("debater"), consultant: Consultant = None, backend: Backend = _default("backend"),
    max_tokens: MaxTokens = _default("max_tokens"), temperature: Temperature = _default("temperature"),
    out_dir: Annotated[str, typer.Option("--out", help="Parent folder of run folders.",
                                         rich_help_panel="Output")] = "runs",
    name: Name = None,
) -> None:
    """Run PROTOCOL on a task, judge every episode, and print judge accuracy."""
    from oversight.config import make_config
    from oversight.report import print_summary
    from oversight.runner import run_experiment

    config = make_config(protocol=protocol, task=task, limit=limit, seed=seed, data=data, order=order,
                         rounds=rounds, turns=turns, word_limit=word_limit, judge=judge, debater=debater,
                         consultant=consultant, backend=backend, max_tokens=max_tokens, temperature=temperature,
                         out=out_dir, name=name)
    try:
        report = run_experiment(config, console=err)
    except KeyboardInterrupt:
        err.print("interrupted: finished episodes are saved; rerun the same command to resume")
        raise typer.Exit(130) from None
    print_summary(report, out)


@app.command()
def tasks() -> None:
    """List the tasks."""
    from rich.table import Table

    from tasks.base import task_infos

    table = Table("task", "family", "source", "description")
    for info in task_infos():
        table.add_row(info.name, info.family, info.hub_id, info.description)
    out.print(table)


@app.command()
def protocols() -> None:
    """List the protocols."""
    import protocols as registered  # noqa: F401
    from oversight.registry import lookup, names

    for name in names("protocol"):
        out.print(f"[bold]{name}[/bold]  {(lookup('protocol', name).__doc__ or '').strip().splitlines()[0]}")


@app.command()
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


def main() -> None:
    try:
        app()  # usage errors (unknown option, bad type) exit 2 inside typer
    except OversightError as exc:
        err.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        sys.exit(EXIT_BAD_INPUT)


if __name__ == "__main__":
    main()
