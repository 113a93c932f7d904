"""Console summaries of a finished run and of a judge cascade over one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console

from oversight.experiments.run import RunReport

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from oversight.experiments.cascade import CascadeReport


def integrity_lines(results) -> list[str]:
    """What the accuracy above rests on: raw beside order-debiased decisions, how agent turns were accepted,
    and any decision read from text or agent choice drawn by coin."""
    lines = []
    debiased = results[results["debiased"].fillna(False).astype(bool)] if "debiased" in results else results.iloc[:0]
    if len(debiased):
        lines.append(f"order-debiased decisions (both label orders, log-odds averaged): accuracy "
                     f"{debiased['correct'].mean():.3f}, invalid {debiased['invalid'].mean():.1%}; the presented "
                     f"order alone: accuracy {debiased['correct_raw'].mean():.3f}, invalid "
                     f"{debiased['invalid_raw'].mean():.1%} (--no-debias judges one order)")
    if "agent_turns" in results and results["agent_turns"].fillna(0).sum():
        turns = int(results["agent_turns"].fillna(0).sum())
        count = {c: int(results[c].fillna(0).sum()) if c in results else 0
                 for c in ("forced_turns", "retried_turns", "lenient_turns", "invalid_turns")}
        lines.append(f"agent turns: {turns}; argument forced after the thinking budget {count['forced_turns']}, "
                     f"sampled again {count['retried_turns']}, accepted without <argument> tags "
                     f"{count['lenient_turns']}, invalid after every retry {count['invalid_turns']}")
    if "decision_method" in results and (results["decision_method"] == "structured").any():
        share = (results["decision_method"] == "structured").mean()
        lines.append(f"decisions read from generated text (choice_method=structured): {share:.1%}")
    if "agent_choice_valid" in results and (results["agent_choice_valid"] == False).any():  # noqa: E712
        share = (results["agent_choice_valid"] == False).mean()  # noqa: E712
        lines.append(f"open protocol: agent choices that were invalid (side drawn by a seeded coin): {share:.1%}")
    return lines


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
    for line in integrity_lines(report.results):
        console.print(line, highlight=False)
    model_time = sum(report.backend_seconds.values())
    console.print(f"{report.episodes_run} episodes run, {report.episodes_skipped} already done; "
                  f"{report.seconds_total:.1f}s total, {report.seconds_loading:.1f}s setup and model loading, "
                  f"{model_time:.1f}s in model calls")
    console.print(f"results: {report.path / 'results.parquet'}  transcripts: {report.path / 'transcripts.jsonl'}")


def print_cascade(report: CascadeReport, judges: list[str], run_dir: str, console: Console) -> None:
    """Episodes deferred past the first judge, each judge's share and prompt tokens, and the cascade's accuracy."""
    s = report.summary
    console.print(f"Cascade {' -> '.join(judges)} on {run_dir}: {s['episodes']} episodes, "
                  f"{s['deferred_fraction']:.1%} deferred past the first judge")
    for stage in s["stages"]:
        console.print(f"  {stage['judge']}: {stage['episodes']} episodes judged ({stage['judged_now']} new), "
                      f"{stage['prompt_tokens']:,} prompt tokens")
    test = f", {s['accuracy_test']:.3f} on the {s['test_episodes']} test-split episodes" \
        if s["calibration_fraction"] and s["accuracy_test"] is not None else ""
    console.print(f"accuracy {s['accuracy']:.3f}{test}; results: {report.path / 'cascade.parquet'}")


def print_curve_table(table: pd.DataFrame, folder: Path, console: Console) -> None:
    """The accuracy-deferral table of `oversight cascade --curve` and where its curves and figure are."""
    from analysis.summary import format_table

    console.print(format_table(table).to_string(index=False))
    console.print(f"curves: {folder / 'curve.csv'}, figure: {folder / 'cascade.png'}")
