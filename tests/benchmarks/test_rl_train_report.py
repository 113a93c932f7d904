"""The RL benchmark's report: read back from its log, so a cut-off or finished benchmark reports the same."""

from __future__ import annotations

import json

import pytest

from benchmarks.rl_train import main, read_log, summarize


def step(seed: int, iteration: int, reward: float) -> dict:
    return {"seed": seed, "kind": "train", "iteration": iteration, "reward_mean": reward, "generate_seconds": 2.0,
            "update_seconds": 1.0, "peak_rss_mb": 100.0 + iteration}


def heldout(seed: int, iteration: int, reward: float) -> dict:
    return {"seed": seed, "kind": "heldout", "iteration": iteration, "reward": reward}


def test_report_uses_each_seeds_latest_attempt_and_draws_the_curve(tmp_path, capsys):
    records = [heldout(0, 0, 0.9), step(0, 1, 0.9),                              # an abandoned first attempt
               heldout(0, 0, 0.50), step(0, 1, 0.52), step(0, 2, 0.60), heldout(0, 2, 0.58),
               heldout(1, 0, 0.40), step(1, 1, 0.45)]                            # seed 1 cut off
    (tmp_path / "rl_train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    rows = summarize(read_log(tmp_path / "rl_train.jsonl"))
    assert [(r["seed"], r["steps"], r["before"], r["after"]) for r in rows] == [(0, 2, 0.50, 0.58), (1, 1, 0.40, None)]
    assert rows[0]["step_s"] == 3.0 and rows[0]["peak_rss_mb"] == 102.0
    main(["--report-only", "--out", str(tmp_path)])
    assert "mean held-out change over 1 seed(s): +0.0800" in capsys.readouterr().out
    assert (tmp_path / "curve.png").stat().st_size > 0


def test_report_without_a_log_says_what_to_run(tmp_path):
    with pytest.raises(SystemExit, match="without --report-only"):
        main(["--report-only", "--out", str(tmp_path)])
