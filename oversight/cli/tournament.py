"""`oversight tournament`: cross-play debates between debaters, then their Elo ladder."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from oversight.cli.console import err, out
from oversight.cli.options import Backend, Data, Judge, Limit, MaxTokens, Seed, Task, Temperature, WordLimit, _default


def tournament(
    debaters: Annotated[list[str], typer.Option("--debater", help="A debater, NAME=SPEC or SPEC; repeat for each "
                                                "(at least two).", rich_help_panel="Models")],
    task: Task = "math", limit: Limit = None, seed: Seed = _default("seed"), data: Data = None,
    rounds: Annotated[int, typer.Option(help="Debate rounds (the study's Elo debates: 1).",
                                        rich_help_panel="Protocol")] = 1,
    word_limit: WordLimit = _default("word_limit"), judge: Judge = _default("judge"),
    backend: Backend = _default("backend"), max_tokens: MaxTokens = _default("max_tokens"),
    temperature: Temperature = _default("temperature"),
    self_play: Annotated[bool, typer.Option("--self-play/--no-self-play", help="Also debate each debater against "
                                            "itself (judge accuracy vs Elo).", rich_help_panel="Protocol")] = True,
    out_dir: Annotated[str, typer.Option("--out", help="Parent folder of the tournament folder.",
                                         rich_help_panel="Output")] = "runs",
    name: Annotated[Optional[str], typer.Option(help="Tournament folder name (default: derived from the options; "
                                                "rerunning resumes).", rich_help_panel="Output")] = None,
) -> None:
    """Cross-play debates between debaters (every ordered pair, both answer orders), then the Elo ladder."""
    from analysis.elo import write_ladder
    from analysis.load import load_runs
    from analysis.summary import format_table
    from oversight.experiments.tournament import default_name, parse_entrants, run_tournament

    entrants = parse_entrants(debaters)
    options = dict(task=task, limit=limit, seed=seed, data=data, rounds=rounds, word_limit=word_limit, judge=judge,
                   backend=backend, max_tokens=max_tokens, temperature=temperature)
    report = run_tournament(entrants, name=name or default_name(entrants, self_play, options), out=out_dir,
                            self_play=self_play, console=err, **options)
    table = write_ladder(load_runs(report.path), report.path)
    out.print("[bold]Elo ladder (scale 500, 95% bootstrap CI; correct/incorrect: Elo when arguing that side)[/bold]")
    out.print(format_table(table).to_string(index=False), highlight=False)
    out.print(f"{report.episodes_run} debates run; runs, ladder.csv and accuracy_vs_elo.png in {report.path}")
