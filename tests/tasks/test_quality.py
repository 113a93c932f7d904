"""tasks/quality.py: QuALITY from the L-Eval copy and the official format, and a real debate on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oversight.errors import DataError
from tasks import load_questions
from tasks.quality import best_distractor, parse_leval_instruction
from tests.tasks.checks import assert_well_formed


def test_leval_copy_loads_every_question_with_its_article(data_dir: Path) -> None:
    qs = load_questions("quality")
    assert len(qs) == 202
    assert_well_formed(qs, "quality")
    articles = [json.loads(line) for line in (data_dir / "quality_leval" / "quality.jsonl").read_text().splitlines()]
    assert {q.context for q in qs} == {a["input"] for a in articles}  # 15 articles, each the agents' context
    first = qs[0]
    assert first.answers[0].startswith("Their subconscious knew that Korvin")  # gold (B) of the first question
    assert first.meta["gold_letter"] == "B" and first.meta["distractor"] == "crc32"
    assert first.answers[1] == first.meta["options"]["ABCD".index(first.meta["incorrect_letter"])]
    gold_letters = [q.meta["gold_letter"] for q in qs]
    assert {letter: gold_letters.count(letter) for letter in "ABCD"} == {"A": 56, "B": 52, "C": 43, "D": 51}


def test_sample_is_deterministic_and_the_wrong_option_depends_on_the_id_only(data_dir: Path) -> None:
    a = load_questions("quality", limit=10, seed=3)
    b = load_questions("quality", limit=10, seed=3)
    assert [(q.id, q.answers) for q in a] == [(q.id, q.answers) for q in b]
    full = {q.id: q.answers for q in load_questions("quality")}
    assert all(full[q.id] == q.answers for q in a)
    letters = {q.meta["incorrect_letter"] for q in load_questions("quality")}
    assert len(letters) == 4  # the CRC-32 choice spreads over all positions


def test_official_format_uses_the_most_voted_best_distractor(tmp_path: Path) -> None:
    votes = [{"untimed_best_distractor": 3}, {"untimed_best_distractor": 4}, {"untimed_best_distractor": 3}]
    line = {"article": "Once upon a time there was a ship.", "title": "The Ship", "questions": [
        {"question": "What was there?", "options": ["a ship", "a car", "a cat", "a hat"], "gold_label": 1,
         "validation": votes, "difficult": 1},
        {"question": "Unlabelled test item?", "options": ["w", "x", "y", "z"]},
    ]}
    path = tmp_path / "QuALITY.v1.0.1.htmlstripped.dev"
    path.write_text(json.dumps(line) + "\n")
    [q] = load_questions("quality", data=path)
    assert q.answers == ("a ship", "a cat") and q.context == line["article"]
    assert q.meta["distractor"] == "best_distractor" and q.meta["title"] == "The Ship" and q.meta["difficult"] == 1


def test_best_distractor_ignores_the_gold_option_and_breaks_ties_low() -> None:
    assert best_distractor([{"untimed_best_distractor": 2}, {"untimed_best_distractor": 4}], gold=0) == 1
    assert best_distractor([{"untimed_best_distractor": 1}], gold=0) is None
    assert best_distractor([], gold=2) is None


@given(votes=st.lists(st.integers(1, 4), max_size=7), gold=st.integers(0, 3), order=st.randoms())
def test_best_distractor_is_the_majority_wrong_option_whatever_the_vote_order(votes, gold, order) -> None:
    wrong = [v for v in votes if v - 1 != gold]
    shuffled = list(votes)
    order.shuffle(shuffled)
    picked = best_distractor([{"untimed_best_distractor": v} for v in shuffled], gold)
    if not wrong:
        assert picked is None
    else:
        top = max(wrong.count(v) for v in wrong)
        assert picked == min(v for v in wrong if wrong.count(v) == top) - 1 and picked != gold


def test_official_votes_written_as_digits_count_and_other_values_are_data_errors(tmp_path: Path) -> None:
    def load(votes: list) -> list:
        line = {"article": "A story.", "title": "T", "questions": [
            {"question": "Q?", "options": ["a", "b", "c", "d"], "gold_label": 2, "validation": votes}]}
        path = tmp_path / "QuALITY.v1.0.1.htmlstripped.dev"
        path.write_text(json.dumps(line) + "\n")
        return load_questions("quality", data=path)

    [q] = load([{"untimed_best_distractor": "4"}, {"untimed_best_distractor": 4}, {"untimed_best_distractor": 1}])
    assert q.answers == ("b", "d") and q.meta["distractor"] == "best_distractor"
    [fallback] = load([{"untimed_best_distractor": 2}])  # only votes for the gold option: nothing annotated
    assert fallback.meta["distractor"] == "crc32" and fallback.answers[1] in ("a", "c", "d")
    for bad in (5, "C", True, 2.5):
        with pytest.raises(DataError, match=r"dev:1: question 1: 'validation'.*untimed_best_distractor.*1-4"):
            load([{"untimed_best_distractor": bad}])


def test_instruction_parsing() -> None:
    question, options = parse_leval_instruction("Why?\n\n (A) one \n (B) two\n (C) three \n (D) four ")
    assert question == "Why?" and options == ["one", "two", "three", "four"]
    with pytest.raises(ValueError):
        parse_leval_instruction("Why?\n\n (A) one \n (B) two")


@pytest.mark.parametrize("line, message", [
    ({"input": "text", "instructions": ["Q?\n (A) a\n (B) b"], "outputs": ["(A) a"]}, r"question 1: expected"),
    ({"input": "text", "instructions": ["Q?\n (A) a\n (B) b\n (C) c\n (D) d"], "outputs": ["A"]}, r"does not start"),
    ({"input": "", "instructions": [], "outputs": []}, r"'input'"),
    ({"input": "t", "instructions": ["x"], "outputs": []}, r"same length"),
])
def test_malformed_lines_name_the_file_and_line(tmp_path: Path, line: dict, message: str) -> None:
    path = tmp_path / "quality.jsonl"
    good = {"input": "t", "instructions": ["Q?\n (A) a\n (B) b\n (C) c\n (D) d"], "outputs": ["(C) c"]}
    path.write_text(json.dumps(good) + "\n" + json.dumps(line) + "\n")
    with pytest.raises(DataError, match=rf"{path}:2.*{message}"):
        load_questions("quality", data=path)


def test_in_a_debate_the_agents_read_the_article_and_the_judge_does_not(tmp_path: Path, data_dir: Path) -> None:
    from oversight.config import make_config
    from oversight.experiments.run import run_experiment
    from tests.helpers import Recorder, prompt

    agents, judge = Recorder(), Recorder()
    config = make_config(protocol="debate", task="quality", limit=1, rounds=1, backend="scripted",
                         judge="scripted:first", debater="scripted:echo", out=str(tmp_path))
    report = run_experiment(config, models={"judge": judge, "debater": agents})
    [question] = load_questions("quality", limit=1)
    records = [json.loads(line) for line in (report.path / "transcripts.jsonl").read_text().splitlines()]
    assert records and all(r["transcript"]["question"]["meta"]["distractor"] == "crc32" for r in records)
    passage = question.context[1000:1200]  # a stretch from the middle of the article
    assert agents.seen and all(passage in prompt(r) for r in agents.seen)
    assert judge.seen and not any(passage in prompt(r) for r in judge.seen)


@pytest.mark.slow
def test_real_debate_on_quality_agents_read_the_article(tmp_path: Path, data_dir: Path, vllm_judge, vllm_agent) -> None:
    """A one-round debate with the embedded models on a QuALITY question whose article the debaters read.

    The articles are 2.9k-7.3k Qwen tokens; the CPU vLLM engine's default 4,096-token context holds only
    the two shortest, and a full 2.9k-token article costs ~1 min of CPU prefill, so the test keeps the
    first 3,000 characters of the shortest article (its questions stay real; the judge never sees it).
    """
    from oversight.config import make_config
    from oversight.experiments.run import run_experiment

    lines = (data_dir / "quality_leval" / "quality.jsonl").read_text().splitlines()
    article = min((json.loads(line) for line in lines), key=lambda a: len(a["input"]))
    cut = article["input"][:article["input"].rfind("\n", 0, 3000)]
    (tmp_path / "quality.jsonl").write_text(json.dumps({**article, "input": cut}) + "\n")
    config = make_config(protocol="debate", task="quality", limit=1, rounds=1, max_tokens=24,
                         data=str(tmp_path / "quality.jsonl"), out=str(tmp_path / "runs"))
    report = run_experiment(config, models={"judge": vllm_judge, "debater": vllm_agent})
    [record] = [json.loads(line) for line in (report.path / "transcripts.jsonl").read_text().splitlines()]
    transcript = record["transcript"]
    assert transcript["question"]["context"] == cut
    assert [t["role"] for t in transcript["turns"]] == ["debater_a", "debater_b"]
    assert all(t["text"].strip() for t in transcript["turns"])
    probs = transcript["decision"]["probs"]
    # a decision has a verdict exactly when it is valid (the small judge may answer neither label in one order)
    assert abs(sum(probs) - 1) < 1e-6
    assert (transcript["decision"]["verdict"] in (0, 1)) != transcript["decision"]["invalid"]
