"""The `oversight` command line. It only wires: parsing here, work in the library.

Each command lives in the module of its group; this module builds the one app from them. Heavy imports (torch,
vLLM, pandas) happen inside command bodies so `oversight --help` stays fast.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from oversight.cli import analysis, bench, export, human, judging, listings, run, serving, sweeps, train, tournament
from oversight.cli.console import err
from oversight.errors import EXIT_BAD_INPUT, OversightError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Scalable-oversight experiments: debate, consultancy and direct QA with weak judges.")

# Registration order is the order `oversight --help` lists the commands in.
for command in (run.run, listings.protocols, listings.models, serving.serve, analysis.analyze, analysis.power,
                analysis.view, tournament.tournament, sweeps.sweep, sweeps.status, judging.judge, judging.cascade,
                train.train):
    app.command()(command)
app.command(context_settings=bench.PASS_THROUGH)(bench.bench)
app.add_typer(listings.tasks_app, name="tasks", invoke_without_command=True)
app.add_typer(serving.cache_app, name="cache")
app.command()(export.export)
app.add_typer(human.human_app, name="human")


def main() -> None:
    try:
        app()  # usage errors (unknown option, bad type) exit 2 inside typer
    except OversightError as exc:
        # escaped: messages name extras like `oversight[ray]`, which rich would take for markup and drop
        err.print(f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False)
        sys.exit(EXIT_BAD_INPUT)


__all__ = ["app", "main"]
