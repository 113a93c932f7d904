"""Console summary of a finished run."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from oversight.runner import RunReport


def print_summary(report: RunReport, console: Console) -> None:
    """Judge accuracy per protocol with a 95% CI, plus where the time went."""
    from analysis.metrics import accuracy_table

    if report.results.empty:
        console.print(f"no judged episodes in {report.path}")
        return
    table = accuracy_table(report.results, by=("protocol", "task", "judge"))
    view = Table(title=f"Judge accuracy — {report.path}")
    for column in ("protocol", "task", "judge", "questions", "episodes", "accuracy", "95% CI", "invalid"):
        view.add_column(column, justify="right" if column not in ("protocol", "task", "judge") else "left")
    for row in table.itertuples():
        view.add_row(row.protocol, row.task, row.judge, str(row.questions), str(row.episodes),
                     f"{row.accuracy:.3f}", f"[{row.ci_low:.3f}, {row.ci_high:.3f}]", f"{row.invalid_rate:.1%}")
    console.print(view)
    model_time = sum(report.backend_seconds.values())
    console.print(f"{report.episodes_run} episodes run, {report.episodes_skipped} already done; "
                  f"{report.seconds_total:.1f}s total, {report.seconds_loading:.1f}s setup and model loading, "
                  f"{model_time:.1f}s in model calls")
    console.print(f"results: {report.path / 'results.parquet'}  transcripts: {report.path / 'transcripts.jsonl'}")
