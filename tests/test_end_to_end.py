"""A whole run on the real embedded models: tiny (2 questions, 1 round, short turns) but real."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from oversight.config import make_config
from oversight.experiments.run import run_experiment

pytestmark = pytest.mark.slow


def check_run(report, protocol: str, episodes: int) -> list[dict]:
    results = pd.read_parquet(report.path / "results.parquet")
    assert len(results) == episodes and set(results["protocol"]) == {protocol}
    for p1, p2 in zip(results["p_answer1"], results["p_answer2"]):
        assert math.isclose(p1 + p2, 1.0, rel_tol=1e-6) and 0 < p1 < 1
    assert (results["judge_mass"] > 0).all()
    # A decision is invalid exactly when it has no verdict (the judge's top label was neither option);
    # invalid counts as wrong.
    assert (results["invalid"] == results["verdict"].isna()).all()
    assert set(results["verdict"].dropna()) <= {0, 1}
    assert (results["correct"] == (results["verdict"] == results["correct_index"])).all()
    assert not results.loc[results["invalid"], "correct"].any()
    records = [json.loads(line) for line in (report.path / "transcripts.jsonl").read_text().splitlines()]
    assert len(records) == episodes
    return records


@pytest.mark.parametrize("backend", ["vllm", "hf"])
def test_debate_on_math_with_embedded_models(tmp_path, request, backend):
    judge = request.getfixturevalue(f"{backend}_judge")
    agent = request.getfixturevalue(f"{backend}_agent")
    config = make_config(protocol="debate", task="math", limit=2, rounds=1, max_tokens=24, order="both",
                         backend=backend, out=str(tmp_path))
    report = run_experiment(config, models={"judge": judge, "debater": agent})
    records = check_run(report, "debate", episodes=4)
    for record in records:
        turns = record["transcript"]["turns"]
        assert [t["role"] for t in turns] == ["debater_a", "debater_b"]
        assert all(t["text"].strip() for t in turns)  # the agent really wrote something
    assert report.episodes_run == 4 and report.backend_seconds


def test_direct_qa_with_the_embedded_judge(tmp_path, hf_judge):
    config = make_config(protocol="direct", task="math", limit=2, backend="hf", out=str(tmp_path))
    report = run_experiment(config, models={"judge": hf_judge})
    check_run(report, "direct", episodes=2)


def test_consultancy_with_embedded_models(tmp_path, hf_judge, hf_agent):
    config = make_config(protocol="consultancy", task="math", limit=1, rounds=2, max_tokens=24, backend="hf",
                         out=str(tmp_path))
    report = run_experiment(config, models={"judge": hf_judge, "consultant": hf_agent})
    records = check_run(report, "consultancy", episodes=2)
    for record in records:
        roles = [t["role"] for t in record["transcript"]["turns"]]
        assert roles == ["consultant", "judge", "consultant"]
        assert all(t["text"].strip() for t in record["transcript"]["turns"])


@pytest.mark.parametrize("protocol, episodes", [("open-debate", 1), ("open-consultancy", 1), ("direct-article", 1)])
def test_open_protocols_and_qa_with_article_on_embedded_models(tmp_path, vllm_judge, vllm_agent, protocol, episodes):
    task = "math"
    if protocol == "direct-article":  # QA with article needs a task with articles: a short one keeps it fast
        data = tmp_path / "story.jsonl"
        data.write_text(json.dumps({"question": "What colour was the boat?", "correct": "Red", "incorrect": "Blue",
                                    "context": "The fisherman painted his boat red before the summer storms."}) + "\n")
        task = f"file:{data}"
    config = make_config(protocol=protocol, task=task, limit=1, rounds=1, max_tokens=16, backend="vllm",
                         out=str(tmp_path / "runs"))
    report = run_experiment(config, models={"judge": vllm_judge, "debater": vllm_agent, "consultant": vllm_agent})
    results = pd.read_parquet(report.path / "results.parquet")
    assert len(results) == episodes and set(results["protocol"]) == {protocol}
    assert math.isclose(results["p_answer1"][0] + results["p_answer2"][0], 1.0, rel_tol=1e-6)
    if protocol.startswith("open"):
        assert results["agent_choice"][0] in (0, 1)
        assert results["agent_correct"][0] == (results["agent_choice"][0] == results["correct_index"][0])


def test_best_of_n_and_judge_reasoning_on_embedded_models(tmp_path, vllm_judge, vllm_agent):
    config = make_config(protocol="debate", task="math", limit=1, rounds=1, max_tokens=16, backend="vllm",
                         best_of_n=2, temperature=0.8, judge_cot=True, out=str(tmp_path))
    report = run_experiment(config, models={"judge": vllm_judge, "debater": vllm_agent})
    [record] = [json.loads(line) for line in (report.path / "transcripts.jsonl").read_text().splitlines()]
    turns = record["transcript"]["turns"]
    # the judge reasons once per label order (order-debiased decisions)
    assert [t["role"] for t in turns] == ["debater_a", "debater_b", "judge", "judge"]
    for turn in turns[:2]:
        if not turn["meta"].get("invalid"):
            assert len(turn["meta"]["candidates"]) == 2
            scores = [c["score"] for c in turn["meta"]["candidates"] if c["valid"]]
            assert all(0 <= s <= 1 for s in scores)
    assert turns[2]["meta"] == {"kind": "reasoning"} and turns[3]["meta"] == {"kind": "reasoning", "labels": "swapped"}


def test_a_turn_budget_holds_on_the_real_agent_and_forced_turns_argue(tmp_path, vllm_judge, vllm_agent):
    """Qwen with 8 tokens to think and 48 per turn: unfinished replies are continued, each turn keeps its budget."""
    from oversight.models.base import Backend

    class Counting(Backend):
        def __init__(self, inner):
            super().__init__(inner.model)
            self.inner, self.spent = inner, []

        def generate(self, requests):
            replies = self.inner.generate(requests)
            self.spent += [(r.messages[-1].role, r.sampling.max_tokens, len(p.token_ids), p.finish_reason)
                           for r, p in zip(requests, replies)]
            return replies

        def choice(self, requests):
            return self.inner.choice(requests)

    agent = Counting(vllm_agent)
    config = make_config(protocol="debate", task="math", limit=2, rounds=1, max_tokens=48, thinking_tokens=8,
                         backend="vllm", out=str(tmp_path))
    report = run_experiment(config, models={"judge": vllm_judge, "debater": agent})
    records = check_run(report, "debate", episodes=2)
    turns = [t for record in records for t in record["transcript"]["turns"]]
    assert all(t["text"].strip() for t in turns)
    openings = [s for s in agent.spent if s[0] == "user"]
    continuations = [s for s in agent.spent if s[0] == "assistant"]
    assert len(openings) == 4 and {s[1] for s in openings} == {8}
    assert all(generated <= limit for _, limit, generated, _ in agent.spent)  # the backend kept each request's cap
    # every opening cut at 8 tokens was continued with the 40 left (nothing is retried: each turn has text)
    assert len(continuations) == sum(s[3] == "length" for s in openings) >= 1
    assert {s[1] for s in continuations} == {40}
    forced = [t for t in turns if t["meta"].get("forced")]
    assert all("</thinking>\n\n<argument>" in t["raw"] for t in forced)
    assert sum(t["meta"].get("continued", False) for t in turns) == len(continuations)
