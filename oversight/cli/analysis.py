"""Reading finished runs: `oversight analyze`, `oversight power`, `oversight view`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from oversight.cli.console import out
from oversight.cli.options import RunPaths


def analyze(
    runs: RunPaths,
    out_dir: Annotated[Optional[str], typer.Option("--out", help="Folder for figures and CSV tables (default: "
                                                   "RUN/analysis for one run, else ./analysis).")] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write figures (PNG + SVG).")] = True,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples per confidence interval.", min=100)] = 2000,
    mixed_provenance: Annotated[bool, typer.Option(
        "--mixed-provenance", help="Pool runs whose provenance (harness version, prompt templates, model weights, "
        "sampling) differs beyond a sweep's own axes; refused by default.")] = False,
) -> None:
    """Print judge accuracy, raw and order-debiased side by side with their paired difference (95% CIs), invalid
    and degraded-path shares, protocol tests, consultancy split, position bias, calibration on valid verdicts, Elo,
    judge panels by size, judge cascades' accuracy-deferral curves and verified-quote rates per speaker. Runs whose
    provenance differs beyond a sweep's own axes are refused unless --mixed-provenance (docs/analysis.md)."""
    from pathlib import Path

    from analysis.cascade import cascade_table, load_cascade_curves, plot_cascades
    from analysis.load import find_runs, load_runs
    from analysis.provenance import check_provenance
    from analysis.quotes import TITLE as QUOTES, quote_rates
    from analysis.summary import default_out, print_tables, summarize, write_figures, write_tables
    from oversight.cli.console import err

    results = load_runs(runs)
    pooled = results[["run", "run_path"]].drop_duplicates()
    for warning in check_provenance(zip(pooled["run"], pooled["run_path"]), mixed=mixed_provenance):
        err.print(warning, highlight=False)
    tables = summarize(results, n_boot=n_boot)
    curves = load_cascade_curves(find_runs(runs))
    if not curves.empty:  # `oversight cascade --curve` results saved in the run folders
        tables["cascade"] = cascade_table(curves)
    print_tables(tables, out)
    quotes = quote_rates(results)
    if not quotes.empty:  # per speaker, from the turns (the results rows sum quotes per episode)
        print_tables({QUOTES: quotes}, out)
        tables["quotes"] = quotes
    folder = Path(out_dir) if out_dir else default_out(runs, "analysis")
    write_tables(tables, folder)
    if plots:
        write_figures(results, folder, tables, n_boot=n_boot)
        plot_cascades(curves, folder)
    out.print(f"\n{len(results)} episodes from {results['run'].nunique()} run(s); tables and figures in {folder}")


def power(
    runs: RunPaths,
    delta: Annotated[float, typer.Option(help="Accuracy difference to detect, as a share (0.05 = 5 points).")] = 0.05,
    a: Annotated[Optional[str], typer.Option("--a", help="First protocol (default: every pair).")] = None,
    b: Annotated[Optional[str], typer.Option("--b", help="Second protocol, compared with --a.")] = None,
    alpha: Annotated[float, typer.Option(help="Two-sided significance level.")] = 0.05,
    target: Annotated[float, typer.Option("--power", help="Power to reach.")] = 0.8,
) -> None:
    """How many questions a paired comparison of two protocols needs to detect DELTA, from the variance of the
    runs' paired differences (per task and judge, raw and order-debiased; clustered by article on extractive
    tasks), with the minimum difference the runs themselves can detect."""
    from analysis.load import load_runs
    from analysis.power import TITLE, power_table
    from analysis.summary import format_table

    table = power_table(load_runs(runs), delta=delta, a=a, b=b, alpha=alpha, power=target)
    out.print(f"[bold]{TITLE}[/bold] (delta {delta}, alpha {alpha}, power {target})")
    out.print(format_table(table).to_string(index=False), highlight=False)


def view(
    runs: RunPaths,
    out_dir: Annotated[Optional[str], typer.Option("--out", help="Report folder (default: RUN/report for one run, "
                                                   "else ./report).")] = None,
    page_size: Annotated[int, typer.Option(help="Episodes per transcript page.", min=1)] = 200,
) -> None:
    """Write a static HTML report: summary tables, figures, and every transcript (paginated)."""
    from pathlib import Path

    from analysis.report import write_report
    from analysis.summary import default_out

    index = write_report(runs, Path(out_dir) if out_dir else default_out(runs, "report"), page_size=page_size)
    out.print(f"report: {index}")
