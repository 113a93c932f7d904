"""Every table and figure of an analysis, from one DataFrame of `load_runs`.

`summarize` returns named tables (the CLI prints them, the HTML report and the notebook show them);
`write_figures` draws the figures that apply to the data. Tables that do not apply (no consultancy,
no cross-play) are left out rather than empty.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd

from analysis.calibration import calibration_table, reliability_table
from analysis.elo import ladder
from analysis.metrics import accuracy_table, agent_split, compare, positional_bias
from analysis.panels import panel_tables, plot_panel_size
from analysis.plots import plot_accuracy, plot_accuracy_vs_elo, plot_calibration

TITLES = {
    "accuracy": "Judge accuracy (episodes paired per question; 95% CI clustered by question or article)",
    "accuracy_by_family": "Judge accuracy by task type",
    "comparisons": "Paired permutation tests between protocols on the same questions",
    "comparisons_by_family": "Paired permutation tests between protocols, by task type",
    "consultancy": "Consultancy: judge accuracy when the consultant argued the correct vs the incorrect answer",
    "open": "Open protocols: agent chose correctly, judge sided with it (win_rate), accuracy by agent right/wrong",
    "position": "Positional bias (mean chosen position, 1.5 = none) and order-swap consistency",
    "calibration": "Calibration of the judge's probabilities",
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
    tables = {
        "accuracy": accuracy_table(results, by=("protocol", "task", "judge", "agents"), n_boot=n_boot, seed=seed,
                                   cluster="cluster"),
        "accuracy_by_family": accuracy_table(results, by=("family", "protocol", "judge"), n_boot=n_boot,
                                             seed=seed, cluster="cluster"),
    }
    protocols = sorted(results["protocol"].astype(str).unique())
    comparisons = [compare(results, a, b, by=("task", "judge"), n_resamples=n_resamples, seed=seed)
                   for a, b in itertools.combinations(protocols, 2)]
    comparisons = [c for c in comparisons if not c.empty]
    if comparisons:
        tables["comparisons"] = pd.concat(comparisons, ignore_index=True)
    if results.groupby("family")["task"].nunique().gt(1).any():  # else the same as by task
        by_family = [compare(results, a, b, by=("family", "judge"), n_resamples=n_resamples, seed=seed)
                     for a, b in itertools.combinations(protocols, 2)]
        by_family = [c for c in by_family if not c.empty]
        if by_family:
            tables["comparisons_by_family"] = pd.concat(by_family, ignore_index=True)
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


def open_protocol_tables(results: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Open consultancy / open debate: live open runs, plus those derived from assigned runs.

    Derivation (`analysis.open_protocols.derive_open`) needs the agent's own answers: a direct-QA run
    on the same task whose judge is the agent model (QA with article on extractive tasks when present).
    Reported with `agent_split`: how often the agent chose correctly, how often the judge sided with it
    (`win_rate`), and accuracy when the agent was right and wrong, with CIs.
    """
    try:
        from analysis.open_protocols import derive_open
    except ImportError:
        return {}
    parts = []
    if "agent_correct" in results:
        parts.append(results[results["protocol"].astype(str).str.startswith("open-")
                             & results["agent_correct"].notna()])
    for protocol, agent in (("consultancy", "consultant"), ("debate", "debater_a")):
        assigned = results[results["protocol"] == protocol]
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
    return {"open": agent_split(rows, "agent_correct", by=("protocol", "task", "judge"), cluster="cluster",
                                n_boot=n_boot, seed=seed)}


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


def format_table(table: pd.DataFrame) -> pd.DataFrame:
    """Readable copy: CI pairs as `[low, high]`, rates as 3 decimals (for printing and HTML)."""
    shown = table.copy()
    if {"ci_low", "ci_high"} <= set(shown):
        value = "elo" if "elo" in shown else next((c for c in ("accuracy", "mean_position") if c in shown), None)
        digits = 0 if value == "elo" else 3
        ci = [f"[{lo:.{digits}f}, {hi:.{digits}f}]" for lo, hi in zip(shown.pop("ci_low"), shown.pop("ci_high"))]
        shown.insert(shown.columns.get_loc(value) + 1 if value else len(shown.columns), "95% CI", ci)
    for column in shown.columns:
        values = shown[column]
        if values.map(lambda v: isinstance(v, tuple)).any():
            shown[column] = values.map(lambda v: f"[{v[0]:.3f}, {v[1]:.3f}]" if isinstance(v, tuple) else v)
        elif pd.api.types.is_float_dtype(values):
            digits = 0 if column.startswith("elo") or column == "correct_advantage" else (
                4 if column == "p_value" else 3)
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
