"""tasks/logic.py: PrOntoQA proofs with "is" <-> "is not" swapped, the problem generator, a real debate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oversight.errors import ConfigError, DataError
from tasks import load_questions
from tasks.logic import generate_problems, negate, proof_options
from tests.tasks.checks import assert_well_formed


def test_prontoqa_file_loads_with_proofs_as_options(data_dir: Path) -> None:
    qs = load_questions("logic")
    assert len(qs) == 500
    assert_well_formed(qs, "logic")
    assert sum(q.meta["label"] for q in qs) == 258  # 258 true, 242 false
    q = qs[0]  # ProntoQA_1: "Max is sour." is false
    assert q.question.startswith("Jompuses are not shy.") and q.question.endswith("true or false? Max is sour.")
    assert q.answers[0].endswith("Tumpuses are not sour. Max is not sour. So the statement is false.")
    assert q.answers[1].endswith("Tumpuses are sour. Max is sour. So the statement is true.")
    assert q.meta["negated_steps"] == [9, 10]


def test_incorrect_proof_differs_only_in_the_queried_property(data_dir: Path) -> None:
    items = json.loads((data_dir / "prontoqa" / "dev.json").read_text())
    for q, item in zip(load_questions("logic"), items):
        prop = q.meta["statement"].removesuffix(".").split()[-1]
        good, bad = q.answers[0].split(". "), q.answers[1].split(". ")
        changed = [i for i, (a, b) in enumerate(zip(good, bad)) if a != b]
        assert len(good) == len(bad) == len(item["explanation"]) + 1
        assert len(changed) == 3  # the property rule, the conclusion, the verdict
        assert all(prop in good[i] for i in changed[:2])


def test_negate_swaps_the_first_copula() -> None:
    assert negate("Max is sour.") == "Max is not sour."
    assert negate("Tumpuses are not sour.") == "Tumpuses are sour."
    assert negate("Every tumpus is not angry.") == "Every tumpus is angry."
    _, wrong, steps = proof_options("Max is sour.", ["Max is a cat.", "Cats are sour.", "Max is sour."], True)
    assert steps == [1, 2] and wrong == "Max is a cat. Cats are not sour. Max is not sour. So the statement is false."


def test_generator_is_deterministic_and_its_proofs_follow_from_the_facts() -> None:
    a = generate_problems(50, hops=3, seed=7)
    assert a == generate_problems(50, hops=3, seed=7)
    assert a != generate_problems(50, hops=3, seed=8)
    assert a[:10] == generate_problems(10, hops=3, seed=7)  # problem i depends on i, not on n
    for problem in a:
        facts = {s if s.endswith(".") else s + "." for s in problem["context"].split(". ")}
        proof = problem["explanation"]
        assert len(proof) == 2 * 3 + 1
        assert all(step in facts for step in proof[1::2])  # every rule the proof uses is a stated fact
        assert proof[0] in facts
    assert 10 < sum(p["answer"] == "A" for p in a) < 40


@pytest.mark.parametrize("hops", [1, 2, 5, 8])
def test_generated_task_frames_like_the_file(hops: int) -> None:
    qs = load_questions(f"logic-gen:hops={hops},n=40,seed=1")
    assert len(qs) == 40
    assert_well_formed(qs, "logic-gen")
    assert {q.meta["hops"] for q in qs} == {hops}
    assert qs[3].id == f"logic-gen/hops{hops}-seed1/3"
    sample = load_questions(f"logic-gen:hops={hops},n=40,seed=1", limit=5, seed=2)
    assert [q.answers for q in sample] == [qs[q.meta["source_index"]].answers for q in sample]


@pytest.mark.parametrize("spec, message", [
    ("logic-gen:hops=0", r"hops must be 1\.\."), ("logic-gen:hops=x", r"bad setting 'hops=x'"),
    ("logic-gen:depth=3", r"bad setting"), ("logic:3", r"takes no argument"),
])
def test_bad_generator_specs(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_questions(spec)


def test_malformed_problems_name_their_position(tmp_path: Path) -> None:
    good = {"id": "p1", "context": "Cats are sour. Max is a cat.", "question":
            "Is the following statement true or false? Max is sour.", "answer": "A",
            "explanation": ["Max is a cat.", "Cats are sour.", "Max is sour."]}
    path = tmp_path / "dev.json"
    path.write_text(json.dumps([good, {**good, "answer": "C"}]))
    with pytest.raises(DataError, match=rf"{path}\[1\]: 'answer' must be 'A'"):
        load_questions("logic", data=path)
    path.write_text(json.dumps([good, {**good, "answer": "B"}]))  # the proof says true
    with pytest.raises(DataError, match=rf"{path}\[1\]: the proof's conclusion"):
        load_questions("logic", data=path)
    path.write_text("[{")
    with pytest.raises(DataError, match=r"malformed JSON"):
        load_questions("logic", data=path)


@pytest.mark.slow
def test_real_debate_on_logic(tmp_path: Path, data_dir: Path, vllm_judge, vllm_agent) -> None:
    from oversight.config import make_config
    from oversight.experiments.run import run_experiment

    config = make_config(protocol="debate", task="logic", limit=1, rounds=1, max_tokens=24, out=str(tmp_path))
    report = run_experiment(config, models={"judge": vllm_judge, "debater": vllm_agent})
    [record] = [json.loads(line) for line in (report.path / "transcripts.jsonl").read_text().splitlines()]
    transcript = record["transcript"]
    assert transcript["question"]["id"].startswith("prontoqa/test/")
    assert all(t["text"].strip() for t in transcript["turns"]) and len(transcript["turns"]) == 2
    assert transcript["decision"]["verdict"] in (0, 1)
