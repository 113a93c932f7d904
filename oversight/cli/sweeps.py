"""Sweeps, many runs from one file: `oversight sweep` runs them, `oversight status` reads their progress."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from oversight.cli.console import err, interrupted, out
from oversight.cli.options import Consultant, Data

SweepPath = Annotated[str, typer.Argument(help="Sweep file (YAML), e.g. configs/laptop.yaml.")]


def sweep(
    file: SweepPath,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan and stop.")] = False,
    skip_invalid: Annotated[bool, typer.Option("--skip-invalid", help="Run the valid cells even when some cannot "
                                               "be prepared (bad config or missing data); default: stop first.")
                            ] = False,
    ray: Annotated[Optional[str], typer.Option("--ray", help="Run the cells on the Ray cluster at ADDRESS "
                                               "(e.g. 127.0.0.1:6379; `ray start --head` starts one).",
                                               rich_help_panel="Scheduling")] = None,
    cell_retries: Annotated[Optional[int], typer.Option(help="Extra attempts for a failed cell (file: "
                                                        "cell_retries).", rich_help_panel="Scheduling")] = None,
    max_models: Annotated[Optional[int], typer.Option(help="Models loaded at once (file: max_models; default: "
                                                      "all the sweep needs).", rich_help_panel="Scheduling")] = None,
    window: Annotated[Optional[int], typer.Option(help="Episodes in flight at once (file: window; default: all). "
                                                  "Episodes are saved as they finish, so a smaller window loses "
                                                  "less when cut off.", min=1, rich_help_panel="Scheduling")] = None,
    task: Annotated[Optional[str], typer.Option("--task", "-t", help="Task of every cell.",
                                                rich_help_panel="Overrides")] = None,
    limit: Annotated[Optional[int], typer.Option(help="Questions per cell.", rich_help_panel="Overrides")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of every cell.", rich_help_panel="Overrides")] = None,
    data: Data = None,
    order: Annotated[Optional[str], typer.Option(help="Answer order.", rich_help_panel="Overrides")] = None,
    rounds: Annotated[Optional[int], typer.Option(help="Rounds.", rich_help_panel="Overrides")] = None,
    judge: Annotated[Optional[str], typer.Option(help="Judge of every cell.", rich_help_panel="Overrides")] = None,
    debater: Annotated[Optional[str], typer.Option(help="Agent model of every cell.",
                                                   rich_help_panel="Overrides")] = None,
    consultant: Consultant = None,
    backend: Annotated[Optional[str], typer.Option(help="Backend for specs without one.",
                                                   rich_help_panel="Overrides")] = None,
    max_tokens: Annotated[Optional[int], typer.Option(help="Tokens per agent turn.",
                                                      rich_help_panel="Overrides")] = None,
    temperature: Annotated[Optional[float], typer.Option(help="Agent temperature.",
                                                         rich_help_panel="Overrides")] = None,
    out_dir: Annotated[Optional[str], typer.Option("--out", help="Parent of the sweep folder (file: out).",
                                                   rich_help_panel="Output")] = None,
) -> None:
    """Expand a sweep file into runs (cells), show the plan, and run every pending cell (rerun resumes)."""
    from oversight.cli.sweep_report import print_plan, print_sweep_report
    from oversight.experiments.api import ray_dispatch, refuse_invalid
    from oversight.experiments.schedule import plan_sweep, run_sweep
    from oversight.experiments.sweep import load_sweep

    overrides = dict(task=task, limit=limit, seed=seed, data=data, order=order, rounds=rounds, judge=judge,
                     debater=debater, consultant=consultant, backend=backend, max_tokens=max_tokens,
                     temperature=temperature)
    spec = load_sweep(file, overrides, out=out_dir)
    for setting, value in dict(cell_retries=cell_retries, max_models=max_models, window=window).items():
        if value is not None:
            setattr(spec.settings, setting, value)
    plans, _ = plan_sweep(spec)
    print_plan(spec, plans, out)
    if dry_run:
        return
    if not skip_invalid:
        refuse_invalid(plans, file, "--skip-invalid")
    dispatch = ray_dispatch(ray) if ray else None
    try:
        report = run_sweep(spec, console=err, plans=plans, dispatch=dispatch)
    except KeyboardInterrupt:
        interrupted()
    print_sweep_report(report, out)
    if report.failed:
        raise typer.Exit(1)


def status(sweep: Annotated[str, typer.Argument(help="Sweep folder (runs/<name>) or sweep file.")]) -> None:
    """Done, pending and failed cells of a sweep (read from its folder; loads no model)."""
    from pathlib import Path

    from oversight.cli.sweep_report import print_status
    from oversight.experiments.sweep_state import sweep_status

    folder = Path(sweep)
    if folder.is_file():
        from oversight.experiments.sweep import load_sweep

        folder = load_sweep(folder).path
    print_status(folder, sweep_status(folder), out)

