"""Judging saved transcripts again: `oversight judge` with another judge, `oversight cascade` with several."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from oversight.cli.console import err, out


def judge(
    run_dir: Annotated[str, typer.Argument(metavar="RUN", help="Run folder holding transcripts.jsonl.")],
    judge_spec: Annotated[str, typer.Option("--judge", help="The new judge's model spec.",
                                            rich_help_panel="Models")],
    backend: Annotated[Optional[str], typer.Option(help="Backend for a spec without one (default: the run's).",
                                                   rich_help_panel="Models")] = None,
) -> None:
    """Judge a run's saved transcripts with another judge (no agent is called); writes RUN/judged/<judge>/."""
    from oversight.cli.report import print_summary
    from oversight.experiments.rejudge import rejudge

    print_summary(rejudge(run_dir, judge_spec, backend=backend, console=err), out)


def cascade(
    run_dir: Annotated[str, typer.Argument(metavar="RUN", help="Run folder holding transcripts.jsonl.")],
    judges: Annotated[list[str], typer.Option("--judge", help="Judge model specs, cheapest first; repeat the option "
                                              "(at least two).", rich_help_panel="Models")],
    rule: Annotated[str, typer.Option(help="Deferral rule: confidence (max probability below --threshold) | entropy "
                                      "(answer-token entropy above --threshold, nats) | learned (logistic "
                                      "regression fitted on the calibration split).")] = "confidence",
    threshold: Annotated[Optional[float], typer.Option(help="The rule's threshold (see --rule).")] = None,
    budget: Annotated[Optional[float], typer.Option(help="Fraction of episodes to defer, instead of a threshold "
                                                    "(set on the calibration split). Default 0.3 when no "
                                                    "--threshold is given.")] = None,
    target: Annotated[str, typer.Option(help="Learned rule's target: error (cheap judge wrong) | gain (cheap "
                                        "wrong and next right; judges the calibration split twice).")] = "error",
    calibration: Annotated[float, typer.Option(help="Fraction of questions in the calibration split.")] = 0.3,
    seed: Annotated[int, typer.Option(help="Seed of the calibration split.")] = 0,
    curve: Annotated[bool, typer.Option("--curve", help="Judge every episode with every judge and write the "
                                        "accuracy-deferral curves of every rule and the oracle (curve.csv, "
                                        "cascade.png).")] = False,
    name: Annotated[Optional[str], typer.Option(help="Folder name under RUN/cascades/.")] = None,
    backend: Annotated[Optional[str], typer.Option(help="Backend for specs without one (default: the run's).",
                                                   rich_help_panel="Models")] = None,
) -> None:
    """Judge a run's saved transcripts with a cascade: the cheap judge first, the next only where the rule defers."""
    from oversight.cli.report import print_cascade, print_curve_table
    from oversight.experiments.cascade import run_cascade
    from oversight.experiments.deferral import DeferralRule

    chosen = DeferralRule(rule, threshold=threshold, budget=budget if budget is not None or threshold is not None
                          else 0.3, target=target)  # type: ignore[arg-type]
    report = run_cascade(run_dir, judges, chosen, calibration=calibration, seed=seed, all_stages=curve, name=name,
                         backend=backend, console=err)
    print_cascade(report, judges, run_dir, out)
    if curve:
        from analysis.cascade import write_curves

        table = write_curves(report.stages[0], report.stages[1], report.features, report.results, report.path,
                             labels=judges[:2])
        print_curve_table(table, report.path, out)
