"""The laptop study's results as Markdown tables, written from the tables `oversight analyze` prints.

Every number here is a cell of one of `analysis.summary.summarize`'s tables, as `format_table` prints it,
so a README built from it and `oversight analyze` cannot disagree.

    python -m analysis.study runs/laptop-study     # print the tables; draw accuracy.png beside the data

The figure has raw accuracy on its top row and order-debiased accuracy below.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from analysis.load import load_runs
from analysis.summary import format_table, summarize

BEGIN = "<!-- laptop-study:begin -->"
END = "<!-- laptop-study:end -->"
PROTOCOLS = {"direct": "QA without article", "direct-article": "QA with article", "consultancy": "consultancy",
             "debate": "debate", "open-consultancy": "open consultancy", "open-debate": "open debate"}
FAMILIES = ("extractive", "closed", "code", "multimodal")


def judge_name(spec: str) -> str:
    """`vllm:embedded:smollm2-135m` -> `smollm2-135m` (model options after `?` left out)."""
    return str(spec).partition("?")[0].split(":")[-1]


def _with_ci(value: str, ci: str) -> str:
    """A value and its CI as `format_table` prints them; empty when the value is missing."""
    return f"{value} {ci}" if value else ""


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _protocol_order(protocol: str) -> int:
    return list(PROTOCOLS).index(protocol) if protocol in PROTOCOLS else len(PROTOCOLS)


def _by_judge_and_protocol(shown: pd.DataFrame) -> pd.DataFrame:
    order = [(judge, _protocol_order(protocol)) for judge, protocol in zip(shown["judge"], shown["protocol"])]
    return shown.iloc[sorted(range(len(shown)), key=order.__getitem__)]


def accuracy_rows(table: pd.DataFrame) -> str:
    """One row per judge, task type and protocol: raw and order-debiased accuracy with their 95% CIs and
    invalid shares, and the paired difference debiased - raw (`–`: no debiased unit)."""
    shown = format_table(table)
    order = [(judge, _family_order(family), _protocol_order(protocol))
             for judge, family, protocol in zip(shown["judge"], shown["family"], shown["protocol"])]
    shown = shown.iloc[sorted(range(len(shown)), key=order.__getitem__)]
    rows = [[judge_name(r["judge"]), r["family"], PROTOCOLS.get(r["protocol"], r["protocol"]),
             _with_ci(r["accuracy"], r["95% CI"]), r["invalid_rate"],
             _with_ci(r["debiased_accuracy"], r["debiased 95% CI"]) or "–", r["debiased_invalid_rate"] or "–",
             _with_ci(r["difference"], r["difference 95% CI"]) or "–"] for _, r in shown.iterrows()]
    return _markdown(["judge", "task type", "protocol", "raw accuracy", "invalid", "debiased accuracy", "invalid",
                      "debiased − raw"], rows)


def _family_order(family: str) -> int:
    return FAMILIES.index(family) if family in FAMILIES else len(FAMILIES)


def comparison_grid(table: pd.DataFrame, first: str = "debate",
                    others: tuple[str, ...] = ("consultancy", "direct", "direct-article")) -> str:
    """Per judge and task type: `first` against each of `others` on the questions both played, raw and
    order-debiased: each accuracy with the questions and the minimum detectable difference, p with the
    Holm-adjusted p beside it (`*`: it survives at 0.05)."""
    header = ["judge", "task type"]
    for other in others:
        header += [f"{PROTOCOLS[first]} / {PROTOCOLS.get(other, other)}, raw", "p (Holm)", "debiased", "p (Holm)"]
    shown = format_table(table)
    rows = []
    for (judge, family), part in shown.groupby(["judge", "family"], sort=True):
        row = [judge_name(judge), family]
        for other in others:
            pair = part[[{a, b} == {first, other} for a, b in zip(part["a"], part["b"])]]
            if pair.empty:
                row += ["–", "", "–", ""]
                continue
            r = pair.iloc[0]
            for prefix in ("", "debiased_"):
                mine, theirs = r[f"{prefix}accuracy_a"], r[f"{prefix}accuracy_b"]
                if r["a"] != first:
                    mine, theirs = theirs, mine
                mde = f", MDE {r[f'{prefix}mde']}" if r[f"{prefix}mde"] else ""
                survives = "*" if r[f"{prefix}survives_holm"] == "yes" else ""
                row += [f"{mine} / {theirs} ({r[f'{prefix}questions']} q{mde})" if mine else "–",
                        f"{r[f'{prefix}p_value']} ({r[f'{prefix}p_holm']}){survives}" if r[f"{prefix}p_value"] else ""]
        rows.append(row)
    return _markdown(header, rows)


def comparison_caption(table: pd.DataFrame) -> str:
    """The comparison grid's title, naming how many tests each view's Holm correction covers."""
    tests = int(table["p_value"].notna().sum())
    return ("\n**Debate against consultancy, QA without article and QA with article** (accuracy of each on the "
            "questions both played, raw and order-debiased; MDE: the smallest difference a paired z-test over articles or "
            "questions detects with power 0.8 at alpha 0.05, from these runs' variance, empty when the differences "
            "do not vary; paired permutation test, p (Holm-adjusted over all "
            f"{tests} protocol pairs of each view, `*`: survives at 0.05))\n")


def split_grid(table: pd.DataFrame, right: str) -> str:
    """Agent-split rows (`analysis.metrics.agent_split`): judge accuracy when the agent was right / wrong; with
    `choice_invalid_share` (open protocols), the share of questions where the agent gave no valid answer."""
    shown = format_table(table.sort_values(["judge", "protocol", "task"]))
    values = ("agent_correct", "win_rate", "accuracy_agent_right", "accuracy_agent_wrong")
    extra = ["choice_invalid_share"] if "choice_invalid_share" in shown else []
    rows = [[judge_name(r["judge"]), PROTOCOLS.get(r["protocol"], r["protocol"]), r["task"],
             *(_with_ci(r[v], r[f"{v}_ci"]) for v in values), *(r[v] for v in extra)] for _, r in shown.iterrows()]
    return _markdown(["judge", "protocol", "task", right, "judge sided with the agent", "accuracy, agent right",
                      "accuracy, agent wrong", *(["agent gave no valid answer"] if extra else [])], rows)


def position_grid(table: pd.DataFrame) -> str:
    shown = _by_judge_and_protocol(format_table(table))
    rows = [[judge_name(r["judge"]), PROTOCOLS.get(r["protocol"], r["protocol"]),
             _with_ci(r["mean_position"], r["95% CI"]), r["first_share"], r["swap_consistency"],
             r["first_debater_share"] or "–", r["invalid_rate"]] for _, r in shown.iterrows()]
    return _markdown(["judge", "protocol", "mean position chosen (1.5 = none)", "first-position share",
                      "same answer in both orders", "sided with the first debater", "invalid verdicts"], rows)


def calibration_grid(table: pd.DataFrame) -> str:
    """Calibration on valid verdicts (`analysis.calibration`), the invalid share beside it."""
    shown = _by_judge_and_protocol(format_table(table))
    rows = [[judge_name(r["judge"]), PROTOCOLS.get(r["protocol"], r["protocol"]), f"{r['valid']} of {r['episodes']}",
             r["invalid_rate"], r["brier"], r["ece"], r["mean_confidence"]] for _, r in shown.iterrows()]
    return _markdown(["judge", "protocol", "valid verdicts", "invalid", "Brier (valid)", "ECE (valid)",
                      "mean confidence (valid)"], rows)


def readme_section(tables: dict[str, pd.DataFrame]) -> str:
    """The generated part of README "Results on a laptop", from `summarize`'s tables."""
    comparisons = tables.get("comparisons_by_family", tables.get("comparisons"))
    parts = [BEGIN,
             ("**Judge accuracy, raw and order-debiased** (95% CI; QuALITY resampled by article. Raw: each episode's "
              "verdict in the answer order presented; an invalid verdict counts as wrong. Debiased: the judge's "
              "log-odds of the correct answer averaged over the two label orders (one episode judged in both, or a "
              "question played in both answer orders, per consultant side), invalid when either order's verdict "
              "is; debiased − raw paired per question)\n"),
             accuracy_rows(tables["accuracy_by_family"]),
             comparison_caption(comparisons),
             comparison_grid(comparisons),
             ]
    if "consultancy" in tables:
        parts += ["\n**Consultancy by assignment** (the consultant argued the correct answer in half the episodes)\n",
                  split_grid(tables["consultancy"], "consultant argued correct")]
    if "open" in tables:
        parts += [("\n**Open protocols, derived from the assigned runs** (the agent's own answer: the self-judged QA "
                  "run)\n"), split_grid(tables["open"], "agent chose correct")]
    parts += [("\n**Positional bias and invalid verdicts** (each episode's verdict in the order presented; the same "
               "answer in both orders: of the decisions made in both label orders; sided with the first debater: of the "
               "valid final decisions in debate, those for the answer of the debater whose argument is shown first)\n"),
              position_grid(tables["position"]),
              ("\n**Calibration on valid verdicts** (Brier score and 10-bin ECE over the verdicts that chose an "
               "answer; the invalid share beside them)\n"),
              calibration_grid(tables["calibration"]), END]
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
