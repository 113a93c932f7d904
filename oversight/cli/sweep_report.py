"""Console output of sweeps: the plan before running, the outcome after, and `oversight status`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from oversight.experiments.schedule import SweepReport
from oversight.experiments.sweep import CellPlan, Sweep, describe
from oversight.experiments.sweep_state import CellStatus


def print_plan(sweep: Sweep, plans: list[CellPlan], console: Console) -> None:
    """One row per cell: what sets it apart, episodes done/total, estimated model requests left."""
    table = Table(title=f"sweep {sweep.name} -> {sweep.path}")
    table.add_column("cell", no_wrap=True)
    for column in ("varies", "episodes", "requests left (est.)"):
        table.add_column(column, overflow="fold")
    total: Counter[str] = Counter()
    for plan in plans:
        total += plan.requests
        left = ", ".join(f"{family} {n}" for family, n in sorted(plan.requests.items())) or "-"
        episodes = "error" if plan.error else f"{plan.episodes - plan.todo}/{plan.episodes}"
        table.add_row(plan.cell.id, describe(plan.cell), episodes, left if not plan.error else plan.error)
    console.print(table)
    specs = {spec for plan in plans if plan.todo for spec in plan.models}
    pending = sum(1 for plan in plans if plan.todo and not plan.error)
    console.print(f"{len(plans)} cells, {pending} with work left; about {sum(total.values())} model requests "
                  f"({', '.join(f'{f} {n}' for f, n in sorted(total.items())) or 'none'}); "
                  f"{len(specs)} distinct model(s): {', '.join(sorted(specs)) or '-'}", highlight=False)
    if sweep.settings.rejudge:
        console.print(f"then every finished cell is judged again from its transcripts by: "
                      f"{', '.join(sweep.settings.rejudge)}", highlight=False)


def print_sweep_report(report: SweepReport, console: Console) -> None:
    """Judge accuracy over all cells, model loads, and the cells that failed."""
    from analysis.metrics import accuracy_table
    from oversight.experiments.schedule import collect_results

    results = collect_results(report.path, [plan.cell.id for plan in report.plans])
    if not results.empty:
        table = accuracy_table(results, by=("protocol", "task", "judge"))
        console.print(f"Judge accuracy over the sweep — {report.path / 'results.parquet'}")
        console.print(table.to_string(index=False, float_format="{:.3f}".format), highlight=False)
    loads = ", ".join(f"{spec} x{n}" for spec, n in report.loads.items()) or "none"
    console.print(f"{report.episodes_run} episodes run in {report.seconds:.1f}s; model loads: {loads}")
    for cell_id, error in report.failed.items():
        console.print(f"[bold red]failed[/bold red] {cell_id}: {error}", highlight=False)


def print_status(folder: Path, statuses: list[CellStatus], console: Console) -> None:
    table = Table(title=f"sweep {folder}")
    table.add_column("cell", no_wrap=True)
    for column in ("state", "episodes", "varies"):
        table.add_column(column, overflow="fold")
    colour = {"done": "green", "pending": "yellow", "failed": "red"}
    for s in statuses:
        table.add_row(s.id, f"[{colour[s.state]}]{s.state}[/{colour[s.state]}]", f"{s.done}/{s.episodes}",
                      s.summary + (f"\n{s.error}" if s.error else ""))
    console.print(table)
    counts = Counter(s.state for s in statuses)
    console.print(f"{len(statuses)} cells: {counts['done']} done, {counts['pending']} pending, "
                  f"{counts['failed']} failed")
