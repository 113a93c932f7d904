"""End-to-end RL on CPU: train a debater against a fixed judge over several seeds; held-out reward before/after.

    python -m benchmarks.rl_train --seeds 0 1 2 --iterations 24 --max-tokens 32

Each seed runs `oversight.rl.train.train` (generate -> judge -> rollouts -> update) with the embedded SmolLM2-135M
as the trained debater A (full fine-tune), a frozen copy of it as debater B and the embedded SmolLM2 judge. The
reward is the judge's probability of debater A's answer; held-out questions are played greedily in both answer
orders before and after training. Every record (per iteration and per evaluation) is appended to
`<out>/rl_train.jsonl` as it happens, so an interrupted benchmark still reports what it measured; the summary
prints the held-out reward before/after per seed, its mean change, and time and peak memory per step.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from rich.console import Console
from rich.table import Table

from oversight.rl.config import TrainConfig
from oversight.rl.train import train


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=24)
    parser.add_argument("--train-questions", type=int, default=4)
    parser.add_argument("--heldout-questions", type=int, default=8)
    parser.add_argument("--samples", type=int, default=4, help="episodes per question and order (GRPO group size)")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--preset", default="dapo")
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--task", default="math")
    parser.add_argument("--policy", default="embedded:smollm2-135m")
    parser.add_argument("--judge", default="hf:embedded:smollm2-135m")
    parser.add_argument("--out", default="runs/rl_train")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: summarise and plot OUT/rl_train.jsonl as it stands")
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "rl_train.jsonl"
    for seed in [] if args.report_only else args.seeds:
        config = TrainConfig(task=args.task, seed=seed, train_questions=args.train_questions,
                             heldout_questions=args.heldout_questions, policy=args.policy, judge=args.judge,
                             iterations=args.iterations, samples=args.samples, max_tokens=args.max_tokens,
                             preset=args.preset, lr=args.lr, out=str(out), name=f"seed-{seed}", save=False)

        def write(entry: dict, seed: int = seed) -> None:
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"seed": seed, **entry}) + "\n")

        train(config, console, on_record=write)
    records = read_log(log)
    print_summary(summarize(records))
    plot_curve(records, out / "curve")
    Console().print(f"curve: {out / 'curve.png'}")


def read_log(log: Path) -> list[dict]:
    """The benchmark's records; a seed run twice keeps its latest records only."""
    if not log.is_file():
        raise SystemExit(f"{log} does not exist: run the benchmark without --report-only first")
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]
    latest: dict[int, list[dict]] = {}
    for record in records:  # a seed restarts at its iteration-0 held-out evaluation
        if record["kind"] == "heldout" and record["iteration"] == 0:
            latest[record["seed"]] = []
        latest.setdefault(record["seed"], []).append(record)
    return [r for seed in sorted(latest) for r in latest[seed]]


def summarize(records: list[dict]) -> list[dict]:
    """Per seed: held-out reward before and after (None until the final evaluation), time and memory per step."""
    rows = []
    for seed in sorted({r["seed"] for r in records}):
        mine = [r for r in records if r["seed"] == seed]
        heldout = sorted((r for r in mine if r["kind"] == "heldout"), key=lambda r: r["iteration"])
        steps = [r for r in mine if r["kind"] == "train"]
        if not heldout or not steps:
            continue
        rows.append({"seed": seed, "steps": len(steps), "before": heldout[0]["reward"],
                     "after": heldout[-1]["reward"] if len(heldout) > 1 else None,
                     "train_first": steps[0]["reward_mean"], "train_last": steps[-1]["reward_mean"],
                     "step_s": statistics.mean(e["generate_seconds"] + e["update_seconds"] for e in steps),
                     "update_s": statistics.mean(e["update_seconds"] for e in steps),
                     "peak_rss_mb": max(e["peak_rss_mb"] for e in steps)})
    return rows


def print_summary(summary: list[dict]) -> None:
    table = Table("seed", "steps", "held-out before", "after", "change", "train reward first -> last step",
                  "s/step (generate+update)", "s/update", "peak RSS MB")
    for row in summary:
        after = "-" if row["after"] is None else f"{row['after']:.4f}"
        change = "-" if row["after"] is None else f"{row['after'] - row['before']:+.4f}"
        table.add_row(str(row["seed"]), str(row["steps"]), f"{row['before']:.4f}", after, change,
                      f"{row['train_first']:.3f} -> {row['train_last']:.3f}", f"{row['step_s']:.1f}",
                      f"{row['update_s']:.1f}", f"{row['peak_rss_mb']:.0f}")
    Console().print(table)
    changes = [row["after"] - row["before"] for row in summary if row["after"] is not None]
    if changes:
        spread = f", standard deviation {statistics.stdev(changes):.4f}" if len(changes) > 1 else ""
        Console().print(f"mean held-out change over {len(changes)} seed(s): {statistics.mean(changes):+.4f}{spread}")


def plot_curve(records: list[dict], path: Path) -> None:
    """Mean training reward per step for each seed, with each seed's held-out reward before and after."""
    from analysis.plots import plt, save

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for seed in sorted({r["seed"] for r in records}):
        steps = [r for r in records if r["seed"] == seed and r["kind"] == "train"]
        line, = ax.plot([r["iteration"] for r in steps], [r["reward_mean"] for r in steps], label=f"seed {seed}: train")
        heldout = [r for r in records if r["seed"] == seed and r["kind"] == "heldout"]
        ax.plot([r["iteration"] for r in heldout], [r["reward"] for r in heldout], "o--", color=line.get_color(),
                label=f"seed {seed}: held-out (greedy)")
    ax.set_xlabel("update step")
    ax.set_ylabel("judge probability of the debater's answer")
    ax.legend(fontsize=7)
    save(fig, path)


if __name__ == "__main__":
    main()
