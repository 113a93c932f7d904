"""Console summary of a finished run."""

from __future__ import annotations

from rich.console import Console

from oversight.experiments.run import RunReport


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
