"""Every table and figure of an analysis, from one DataFrame of `load_runs`.

`summarize` returns named tables (the CLI prints them, the HTML report and the notebook show them);
`write_figures` draws the figures that apply to the data. Tables that do not apply (no consultancy,
no cross-play) are left out rather than empty.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.calibration import calibration_table, reliability_table
from analysis.debias import debiased_units, degraded_shares, raw_view
from analysis.elo import ladder
from analysis.metrics import accuracy_table, agent_split, compare, holm, positional_bias
from analysis.panels import panel_tables, plot_panel_size
from analysis.plots import plot_accuracy, plot_accuracy_vs_elo, plot_calibration

TITLES = {
    "accuracy": ("Judge accuracy, raw (each episode's presented-order decision) and order-debiased (both answer "
                 "orders averaged), the paired difference, invalid shares and degraded paths (episodes paired "
                 "per question; 95% CI clustered by question or article)"),
    "accuracy_by_family": "Judge accuracy by task type, raw and order-debiased",
    "comparisons": ("Paired permutation tests between protocols on the same questions, raw and order-debiased: "
                    "minimum detectable difference (mde; alpha 0.05, power 0.8, clustered), p, Holm-adjusted p over "
                    "the table's tests and whether it survives at 0.05"),
    "comparisons_by_family": ("Paired permutation tests between protocols, by task type, raw and order-debiased: "
                              "mde, p, Holm-adjusted p and whether it survives at 0.05"),
    "consultancy": "Consultancy: judge accuracy when the consultant argued the correct vs the incorrect answer",
    "open": ("Open protocols: agent chose correctly, judge sided with it (win_rate), accuracy by agent "
             "right/wrong, share of invalid agent choices"),
    "position": ("Positional bias of the presented-order decisions (mean chosen position, 1.5 = none), "
                 "order-swap consistency, and in debate the share of decisions siding with the debater shown first"),
    "calibration": "Calibration of the judge's probabilities on valid verdicts, with the invalid rate",
    "elo": "Debater Elo from cross-play (scale 500, 95% bootstrap CI)",
    "panel": "Judge panels by size: accuracy, calibration and variance across sub-panels, per aggregation",
    "cascade": "Judge cascades: accuracy at each fraction deferred to the stronger judge (test split)",
}


def has_cross_play(results: pd.DataFrame) -> bool:
    debates = results[results["protocol"].astype(str).str.contains("debate")]
    return bool(len(debates)) and bool((debates["debater_a"].astype(str) != debates["debater_b"].astype(str)).any())


def summarize(results: pd.DataFrame, n_boot: int = 2000, n_resamples: int = 10_000,
              seed: int = 0) -> dict[str, pd.DataFrame]:
    """The named tables of TITLES that apply to `results` (a frame from `load_runs`)."""
    by = ("protocol", "task", "judge", "agents")
    accuracy = accuracy_table(results, by=by, n_boot=n_boot, seed=seed, cluster="cluster", debiased=True)
    shares = degraded_shares(results, by)
    tables = {
        "accuracy": accuracy.merge(shares, on=list(by), how="left") if shares.shape[1] > len(by) else accuracy,
        "accuracy_by_family": accuracy_table(results, by=("family", "protocol", "judge"), n_boot=n_boot,
                                             seed=seed, cluster="cluster", debiased=True),
    }
    raw, units = raw_view(results), debiased_units(results)
    comparisons = comparison_table(raw, units, ("task", "judge"), n_resamples, seed)
    if not comparisons.empty:
        tables["comparisons"] = comparisons
    if results.groupby("family")["task"].nunique().gt(1).any():  # else the same as by task
        by_family = comparison_table(raw, units, ("family", "judge"), n_resamples, seed)
        if not by_family.empty:
            tables["comparisons_by_family"] = by_family
    if "consultant_correct" in results and results["consultant_correct"].notna().any():
        tables["consultancy"] = agent_split(results, "consultant_correct", by=("protocol", "task", "judge"),
                                            cluster="cluster", n_boot=n_boot, seed=seed)
    tables.update(open_protocol_tables(results, n_boot=n_boot, seed=seed))
    tables["position"] = positional_bias(results, by=("protocol", "judge"), n_boot=n_boot, seed=seed)
    tables["calibration"] = calibration_table(results, by=("protocol", "judge"))
    if has_cross_play(results):
        tables["elo"] = ladder(results, seed=seed)
    panels = panel_tables(results, seed=seed)
    if not panels.empty:
        tables["panel"] = panels
    return tables


def comparison_table(raw: pd.DataFrame, units: pd.DataFrame, by: tuple[str, ...], n_resamples: int = 10_000,
                     seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """`compare` for every pair of protocols on the raw decisions, with the same test on the order-debiased
    units beside it (`debiased_*` columns; empty where a protocol has no debiased unit). Each view's p-values
    form one family: `p_holm` is Holm-adjusted over the table's tests of that view, `survives_holm` says
    whether it is at most `alpha`. `mde` is clustered like the intervals (`cluster` when present)."""
    protocols = sorted(raw["protocol"].astype(str).unique())
    cluster = "cluster" if "cluster" in raw else None
    keys = [*by, "a", "b"]
    parts = []
    for a, b in itertools.combinations(protocols, 2):
        first = compare(raw, a, b, by=by, n_resamples=n_resamples, seed=seed, cluster=cluster)
        if first.empty:
            continue
        second = (compare(units, a, b, by=by, n_resamples=n_resamples, seed=seed, cluster=cluster) if len(units)
                  else first.iloc[:0])
        second = second.rename(columns={c: f"debiased_{c}" for c in second if c not in keys})
        parts.append(first.merge(second, on=keys, how="left"))
    if not parts:
        return pd.DataFrame()
    table = pd.concat(parts, ignore_index=True)
    for prefix in ("", "debiased_"):
        adjusted = holm(table[f"{prefix}p_value"])
        at = table.columns.get_loc(f"{prefix}p_value") + 1
        table.insert(at, f"{prefix}p_holm", adjusted)
        table.insert(at + 1, f"{prefix}survives_holm",
                     pd.Series(adjusted <= alpha, dtype=object).where(~np.isnan(adjusted), None))
    return table


def open_protocol_tables(results: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Open consultancy / open debate: live open runs, plus those derived from assigned runs.

    Derivation (`analysis.open_protocols.derive_open`) needs the agent's own answers: a direct-QA run
    on the same task whose judge is the agent model (QA with article on extractive tasks when present).
    Reported with `agent_split`: how often the agent chose correctly, how often the judge sided with it
    (`win_rate`), and accuracy when the agent was right and wrong, with CIs, over the episodes whose agent made
    a valid choice; `choice_invalid_share` (per question, then averaged) counts the others, which are never
    split by a side the agent did not choose.
    """
    try:
        from analysis.open_protocols import derive_open
    except ImportError:
        return {}
    parts = []
    if "agent_correct" in results:
        live = results[results["protocol"].astype(str).str.startswith("open-") & results["agent_correct"].notna()]
        valid = (live["agent_choice_valid"].fillna(True).astype(bool) if "agent_choice_valid" in live
                 else pd.Series(True, live.index))
        parts.append(live.assign(agent_choice_valid=valid,
                                 agent_correct=live["agent_correct"].astype(object).where(valid, None)))
    for protocol, agent in (("consultancy", "consultant"), ("debate", "debater_a")):
        assigned = results[results["protocol"] == protocol]
        if assigned.empty:
            continue
        if protocol == "debate":
            assigned = assigned[assigned["debater_a"] == assigned["debater_b"]]  # one agent model, not cross-play
        for (task, model), rows in assigned.groupby(["task", agent], dropna=True):
            qa = results[(results["task"] == task) & (results["judge"] == model)]
            article = qa[qa["protocol"] == "direct-article"]
            qa = article if len(article) and (rows["family"] == "extractive").all() else qa[qa["protocol"] == "direct"]
            if len(qa):
                parts.append(derive_open(rows.drop(columns=["agent_correct"], errors="ignore"), qa))
    rows = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else None
    if rows is None:
        return {}
    by = ["protocol", "task", "judge"]
    split = agent_split(rows, "agent_correct", by=by, cluster="cluster", n_boot=n_boot, seed=seed)
    invalid = (rows.assign(_invalid=~rows["agent_choice_valid"].astype(bool))
               .groupby([*by, "question_id"], dropna=False)["_invalid"].mean()
               .groupby(level=by, dropna=False).mean().rename("choice_invalid_share").reset_index())
    if split.empty:
        return {"open": invalid}
    table = invalid.merge(split, on=by, how="left")
    return {"open": table[[*split.columns, "choice_invalid_share"]]}


def write_figures(results: pd.DataFrame, out: str | Path, tables: dict[str, pd.DataFrame] | None = None,
                  n_boot: int = 2000, seed: int = 0) -> dict[str, list[Path]]:
    """Draw the figures that apply: accuracy (always), calibration, accuracy vs Elo (with cross-play)."""
    out = Path(out)
    tables = tables if tables is not None else {}
    by_family = tables.get("accuracy_by_family")
    if by_family is None:
        by_family = accuracy_table(results, by=("family", "protocol", "judge"), n_boot=n_boot, seed=seed,
                                   cluster="cluster")
    figures = {"accuracy": plot_accuracy(by_family, out / "accuracy")}
    curves = reliability_table(results, by=("protocol",))
    figures["calibration"] = plot_calibration(curves, out / "calibration")
    elo = tables.get("elo")
    if elo is None and has_cross_play(results):
        elo = ladder(results, seed=seed)
    if elo is not None and not elo.empty:
        figures["accuracy_vs_elo"] = plot_accuracy_vs_elo(elo, out / "accuracy_vs_elo")
    panels = tables.get("panel")
    if panels is None:
        panels = panel_tables(results, seed=seed)
    if not panels.empty:
        figures["panel_size"] = plot_panel_size(panels, out / "panel_size")
    return figures


def _interval(low: float, high: float, digits: int) -> str:
    return "" if pd.isna(low) or pd.isna(high) else f"[{low:.{digits}f}, {high:.{digits}f}]"


def format_table(table: pd.DataFrame) -> pd.DataFrame:
    """Readable copy: CI pairs as `[low, high]`, rates as 3 decimals, missing values empty (for printing and
    HTML). `ci_low`/`ci_high` become `95% CI` after the table's value; `X_ci_low`/`X_ci_high` become
    `X 95% CI` after `X` (or `X_accuracy`)."""
    shown = table.copy()
    if {"ci_low", "ci_high"} <= set(shown):
        value = "elo" if "elo" in shown else next((c for c in ("accuracy", "mean_position") if c in shown), None)
        digits = 0 if value == "elo" else 3
        ci = [_interval(lo, hi, digits) for lo, hi in zip(shown.pop("ci_low"), shown.pop("ci_high"))]
        shown.insert(shown.columns.get_loc(value) + 1 if value else len(shown.columns), "95% CI", ci)
    for low in [c for c in shown.columns if c.endswith("_ci_low") and f"{c.removesuffix('_low')}_high" in shown]:
        prefix = low.removesuffix("_ci_low")
        value = next((c for c in (prefix, f"{prefix}_accuracy") if c in shown), None)
        ci = [_interval(lo, hi, 3) for lo, hi in zip(shown.pop(low), shown.pop(f"{prefix}_ci_high"))]
        shown.insert(shown.columns.get_loc(value) + 1 if value else len(shown.columns), f"{prefix} 95% CI", ci)
    for column in shown.columns:
        values = shown[column]
        if column.endswith("survives_holm"):
            shown[column] = values.map(lambda v: "" if v is None or pd.isna(v) else ("yes" if v else "no"))
        elif values.map(lambda v: isinstance(v, tuple)).any():
            shown[column] = values.map(lambda v: f"[{v[0]:.3f}, {v[1]:.3f}]" if isinstance(v, tuple) else v)
        elif pd.api.types.is_float_dtype(values):
            digits = 0 if column.startswith("elo") or column == "correct_advantage" or column.endswith("_needed") \
                else (4 if column.endswith(("p_value", "p_holm")) else 3)
            shown[column] = values.map(lambda v, d=digits: "" if pd.isna(v) else f"{v:.{d}f}")
    return shown


def default_out(paths: list[str], leaf: str) -> Path:
    """Where `oversight analyze`/`view` write when not told: inside the run folder given, else ./`leaf`."""
    return Path(paths[0]) / leaf if len(paths) == 1 else Path(leaf)


def write_tables(tables: dict[str, pd.DataFrame], out: str | Path) -> list[Path]:
    """Each table as `<out>/<name>.csv` (raw numbers, for other tools)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in tables.items():
        table.to_csv(out / f"{name}.csv", index=False)
        written.append(out / f"{name}.csv")
    return written


def print_tables(tables: dict[str, pd.DataFrame], console) -> None:
    """Every table under its title, formatted for reading."""
    for name, table in tables.items():
        console.print(f"\n[bold]{TITLES.get(name, name)}[/bold]")
        console.print(format_table(table).to_string(index=False), highlight=False)
