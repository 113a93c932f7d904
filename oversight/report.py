"""Console summary of a finished run."""

from __future__ import annotations

from rich.console import Console

from oversight.runner import RunReport


def print_summary(report: RunReport, console: Console) -> None:
    """Judge accuracy per protocol with a 95% CI, plus where the time went."""
    from analysis.metrics import accuracy_table

    if report.results.empty:
        console.print(f"no judged episodes in {report.path}")
        return
    table = accuracy_table(report.results, by=("protocol", "task", "judge"))
    table["95% CI"] = [f"[{lo:.3f}, {hi:.3f}]" for lo, hi in zip(table.pop("ci_low"), table.pop("ci_high"))]
    table["accuracy"] = table["accuracy"].map("{:.3f}".format)
    table["invalid"] = table.pop("invalid_rate").map("{:.1%}".format)
    console.print(f"Judge accuracy — {report.path}")
    console.print(table.to_string(index=False), highlight=False)
    assigned = report.results.dropna(subset=["consultant_correct"]) if "consultant_correct" in report.results else None
    if "agent_correct" in report.results:
        from analysis.open_protocols import open_summary

        console.print("Open protocol: how often the agent chose correctly, the judge agreed with it, and judge "
                      "accuracy when the agent was right / wrong:")
        console.print(open_summary(report.results).to_string(float_format="{:.3f}".format), highlight=False)
    elif assigned is not None and not assigned.empty:
        split = accuracy_table(assigned, by=("protocol", "consultant_correct"))
        console.print("Consultancy, split by whether the consultant argued the correct answer:")
        console.print(split[["protocol", "consultant_correct", "episodes", "accuracy", "ci_low", "ci_high"]]
                      .to_string(index=False, float_format="{:.3f}".format), highlight=False)
    model_time = sum(report.backend_seconds.values())
    console.print(f"{report.episodes_run} episodes run, {report.episodes_skipped} already done; "
                  f"{report.seconds_total:.1f}s total, {report.seconds_loading:.1f}s setup and model loading, "
                  f"{model_time:.1f}s in model calls")
    console.print(f"results: {report.path / 'results.parquet'}  transcripts: {report.path / 'transcripts.jsonl'}")
