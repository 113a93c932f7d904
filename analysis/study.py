"""The laptop study's results as Markdown tables, written from the tables `oversight analyze` prints.

Every number here is a cell of one of `analysis.summary.summarize`'s tables, formatted as `format_table`
formats it for the terminal, so a README built from it and `oversight analyze` cannot disagree.

    python -m analysis.study runs/laptop-study     # print the tables; draw accuracy.png beside the data
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from analysis.load import load_runs
from analysis.summary import summarize

BEGIN = "<!-- laptop-study:begin -->"
END = "<!-- laptop-study:end -->"
PROTOCOLS = {"direct": "QA without article", "direct-article": "QA with article", "consultancy": "consultancy",
             "debate": "debate", "open-consultancy": "open consultancy", "open-debate": "open debate"}
FAMILIES = ("extractive", "closed", "code", "multimodal")


def judge_name(spec: str) -> str:
    """`vllm:embedded:smollm2-135m` -> `smollm2-135m` (model options after `?` left out)."""
    return str(spec).partition("?")[0].split(":")[-1]


def _rate(value: float) -> str:
    return "" if pd.isna(value) else f"{value:.3f}"


def _with_ci(value: float, low: float, high: float) -> str:
    return "" if pd.isna(value) else f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _protocol_order(protocol: str) -> int:
    return list(PROTOCOLS).index(protocol) if protocol in PROTOCOLS else len(PROTOCOLS)


def accuracy_grid(table: pd.DataFrame, value: str = "accuracy") -> str:
    """Judge x protocol rows, one column per task type: `accuracy [95% CI]` (or another column of the table)."""
    families = [f for f in FAMILIES if f in set(table["family"])]
    rows = []
    for (judge, protocol), part in sorted(table.groupby(["judge", "protocol"]),
                                          key=lambda item: (item[0][0], _protocol_order(item[0][1]))):
        cells = []
        for family in families:
            hit = part[part["family"] == family]
            if hit.empty:
                cells.append("–")
            elif value == "accuracy":
                cells.append(_with_ci(*hit.iloc[0][["accuracy", "ci_low", "ci_high"]]))
            else:
                cells.append(_rate(hit.iloc[0][value]))
        rows.append([judge_name(judge), PROTOCOLS.get(protocol, protocol), *cells])
    return _markdown(["judge", "protocol", *families], rows)


def comparison_grid(table: pd.DataFrame, first: str = "debate", others: tuple[str, ...] = ("consultancy", "direct")
                    ) -> str:
    """Per judge and task type: `first` against each of `others` on the questions both played, with p."""
    header = ["judge", "task type"]
    for other in others:
        header += [f"{PROTOCOLS[first]} / {PROTOCOLS.get(other, other)}", "p"]
    rows = []
    for (judge, family), part in table.groupby(["judge", "family"], sort=True):
        row = [judge_name(judge), family]
        for other in others:
            pair = part[[{a, b} == {first, other} for a, b in zip(part["a"], part["b"])]]
            if pair.empty:
                row += ["–", ""]
                continue
            r = pair.iloc[0]
            mine, theirs = (r["accuracy_a"], r["accuracy_b"]) if r["a"] == first else (r["accuracy_b"], r["accuracy_a"])
            row += [f"{mine:.3f} / {theirs:.3f} ({r['questions']} q)", f"{r['p_value']:.4f}"]
        rows.append(row)
    return _markdown(header, rows)


def split_grid(table: pd.DataFrame, right: str) -> str:
    """Agent-split rows (`analysis.metrics.agent_split`): judge accuracy when the agent was right / wrong."""
    rows = []
    for _, r in table.sort_values(["judge", "protocol", "task"]).iterrows():
        rows.append([judge_name(r["judge"]), PROTOCOLS.get(r["protocol"], r["protocol"]), r["task"],
                     _with_ci(r["agent_correct"], *r["agent_correct_ci"]), _with_ci(r["win_rate"], *r["win_rate_ci"]),
                     _with_ci(r["accuracy_agent_right"], *r["accuracy_agent_right_ci"]),
                     _with_ci(r["accuracy_agent_wrong"], *r["accuracy_agent_wrong_ci"])])
    return _markdown(["judge", "protocol", "task", right, "judge sided with the agent", "accuracy, agent right",
                      "accuracy, agent wrong"], rows)


def position_grid(table: pd.DataFrame) -> str:
    rows = []
    for _, r in sorted(table.iterrows(), key=lambda item: (item[1]["judge"], _protocol_order(item[1]["protocol"]))):
        rows.append([judge_name(r["judge"]), PROTOCOLS.get(r["protocol"], r["protocol"]),
                     _with_ci(r["mean_position"], r["ci_low"], r["ci_high"]), _rate(r["first_share"]),
                     _rate(r["swap_consistency"]), _rate(r["invalid_rate"])])
    return _markdown(["judge", "protocol", "mean position chosen (1.5 = none)", "first-position share",
                      "same answer in both orders", "invalid verdicts"], rows)


def readme_section(tables: dict[str, pd.DataFrame]) -> str:
    """The generated part of README "Results on a laptop", from `summarize`'s tables."""
    parts = [BEGIN,
             "**Judge accuracy** (95% CI; QuALITY resampled by article; `–`: the protocol does not apply)\n",
             accuracy_grid(tables["accuracy_by_family"]),
             ("\n**Debate against consultancy and against QA without article** (accuracy of each on the questions "
             "both played; paired permutation test)\n"),
             comparison_grid(tables.get("comparisons_by_family", tables.get("comparisons"))),
             ]
    if "consultancy" in tables:
        parts += ["\n**Consultancy by assignment** (the consultant argued the correct answer in half the episodes)\n",
                  split_grid(tables["consultancy"], "consultant argued correct")]
    if "open" in tables:
        parts += [("\n**Open protocols, derived from the assigned runs** (the agent's own answer: the self-judged QA "
                  "run)\n"), split_grid(tables["open"], "agent chose correct")]
    parts += ["\n**Positional bias and invalid verdicts**\n", position_grid(tables["position"]), END]
    return "\n".join(parts)


def study_tables(folder: str | Path, n_boot: int = 2000) -> dict[str, pd.DataFrame]:
    """`summarize` over the runs (or the copied results table) in `folder`, as `oversight analyze` computes it."""
    return summarize(load_runs(folder), n_boot=n_boot)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="Folder holding the study's results.parquet (or the sweep folder).")
    parser.add_argument("--figure", default=None, help="Where to draw the accuracy figure (default: FOLDER/accuracy).")
    args = parser.parse_args(argv)
    from analysis.plots import plot_accuracy

    tables = study_tables(args.folder)
    plot_accuracy(tables["accuracy_by_family"], args.figure or Path(args.folder) / "accuracy")
    print(readme_section(tables))


if __name__ == "__main__":
    main()
