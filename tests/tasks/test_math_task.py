"""tasks/math.py: GSM8KQA programs (`math`) and worked solutions (`math-prose`), from the real GSM8K test split.

The program tests run programs in the sandbox to check the values computed without running them.
"""

from __future__ import annotations

import collections
import json
import random
import time
from fractions import Fraction
from pathlib import Path

import pytest

from oversight.errors import ConfigError, DataError
from tasks import load_questions
from oversight.experiments.build import build_task, cache_path
from tasks.build import extract_program
from tasks.gsm8k_programs import printed_answer, program_options, program_runner, same_number
from tasks.math import safe_eval, shift_unit, worked_solution_options
from oversight.sandbox import code_execution, run_python


@pytest.fixture(scope="module")
def prose(data_dir: Path):
    return load_questions("math-prose", data=data_dir / "gsm8k" / "test.jsonl")


@pytest.fixture(scope="module")
def programs(data_dir: Path):
    return load_questions("math", data=data_dir / "gsm8k" / "test.jsonl")


def by_id(questions, index: int):
    return next(q for q in questions if q.id == f"gsm8k/test/{index}")


# ------------------------------------------------------------------ the whole split


def test_every_question_is_a_valid_binary_choice(prose, data_dir: Path) -> None:
    rows = [json.loads(line) for line in (data_dir / "gsm8k" / "test.jsonl").read_text("utf-8").splitlines()]
    assert len(prose) == len(rows) == 1319
    assert len({q.id for q in prose}) == 1319
    for i, (q, row) in enumerate(zip(prose, rows, strict=True)):
        assert q.id == f"gsm8k/test/{i}" and q.task == "math-prose" and q.context is None
        assert q.question == row["question"].strip()
        assert q.correct_index == 0
        correct, wrong = q.answers
        assert correct != wrong
        gold = row["answer"].split("####")[-1].strip()
        assert correct.endswith(f"\nThe answer is {gold}.")
        assert q.meta["gold_answer"] == gold.replace(",", "")
        assert q.meta["wrong_answer"] != q.meta["gold_answer"]
        assert Fraction(q.meta["wrong_answer"]) != Fraction(q.meta["gold_answer"])
        assert wrong.endswith(".") and wrong.splitlines()[-1].replace(",", "") == \
            f"The answer is {q.meta['wrong_answer']}."
        for text in (correct, wrong):
            assert "<<" not in text and ">>" not in text and "####" not in text
        assert q.meta["source_index"] == i and q.meta["split"] == "test"
        assert q.meta["wrong_method"] in ("operator_swap", "operand_shift", "fallback_double")
        assert q.meta["wrong_checks"] in ("strict", "relaxed", "fallback")


def test_method_shares_on_the_test_split(prose) -> None:
    """Regression guard for the construction (measured: ~90% strict, ~6% relaxed, ~4.5% fallback)."""
    n = len(prose)
    methods = collections.Counter(q.meta["wrong_method"] for q in prose)
    checks = collections.Counter(q.meta["wrong_checks"] for q in prose)
    print({k: f"{100 * v / n:.1f}%" for k, v in (methods + checks).items()})
    assert checks["strict"] / n >= 0.85
    assert checks["fallback"] / n <= 0.06
    assert methods["operator_swap"] / n >= 0.3 and methods["operand_shift"] / n >= 0.3
    strict_wrong = [Fraction(q.meta["wrong_answer"])
                    for q in prose if q.meta["wrong_checks"] == "strict"]
    assert all(w >= 0 and w.denominator == 1 for w in strict_wrong)


def test_the_mistake_is_spread_over_the_solution(prose) -> None:
    steps = collections.Counter(q.meta["wrong_step"] for q in prose)
    assert steps[0] > 150 and steps[1] > 150 and steps[2] > 150


def test_loading_is_deterministic_and_fast(prose, data_dir: Path) -> None:
    start = time.perf_counter()
    again = load_questions("math-prose", data=data_dir)
    elapsed = time.perf_counter() - start
    assert [(q.id, q.answers, q.meta) for q in again] == [(q.id, q.answers, q.meta) for q in prose]
    print(f"built 1319 GSM8K questions in {elapsed:.2f} s")
    assert elapsed < 5  # ~0.6 s on a 2-core machine


# ------------------------------------------------------------------ hand-checked examples


def test_example_0_operand_shift(prose) -> None:
    # Janet: 16 - 3 - 4 = 9 eggs; 9 * 2 = $18. Mistake in step 2 (crc32 rotation): `9/2` is not an
    # integer, so the operand shift 2 -> 3 gives 9 * 3 = 27.
    q = by_id(prose, 0)
    assert q.answers == (
        ("Janet sells 16 - 3 - 4 = 9 duck eggs a day.\n"
         "She makes 9 * 2 = $18 every day at the farmer’s market.\n"
         "The answer is 18."),
        ("Janet sells 16 - 3 - 4 = 9 duck eggs a day.\n"
         "She makes 9 * 3 = $27 every day at the farmer’s market.\n"
         "The answer is 27."),
    )
    assert q.meta["wrong_method"] == "operand_shift" and q.meta["wrong_checks"] == "strict"
    assert (q.meta["gold_answer"], q.meta["wrong_answer"], q.meta["wrong_step"]) == ("18", "27", 1)
    assert q.meta["wrong_detail"] == "step 2: 9*2=18 -> 9*3=27"


def test_example_1_operator_swap(prose) -> None:
    q = by_id(prose, 1)
    assert q.answers[1] == ("It takes 2/2=1 bolt of white fiber\n"
                            "So the total amount of fabric is 2-1=1 bolts of fabric\n"
                            "The answer is 1.")
    assert q.meta["wrong_method"] == "operator_swap" and q.meta["wrong_detail"] == "step 2: 2+1=3 -> 2-1=1"


def test_example_271_change_propagates_through_later_steps(prose) -> None:
    # 3*2=6 -> 3/2 is not an integer, so 3*3=9; then 9+4=13 and 13*2=26.
    q = by_id(prose, 271)
    assert q.answers[1] == ("Each house has 3*3=9 windows for the bedrooms\n"
                            "So each house has 9+4=13 windows\n"
                            "So the total number of windows is 13*2=26 windows\n"
                            "The answer is 26.")


def test_example_115_unannotated_prose_steps_and_later_mentions(prose) -> None:
    # "10 x 10 = 100" carries no annotation: it is still a step. 10/10=1 would make 1.5*81 = 121.5,
    # so the operand shift 10 -> 11 wins: 110, 110+80=190, 190*1.5=285, 285-190=95; the "$100" and
    # "$180"/"$270"/"$90" mentions before each equation follow.
    q = by_id(prose, 115)
    assert q.answers[1] == ("She bought the 2 x 4s for $110 because 10 x 11 = 110\n"
                            "She bought the 4 x 4s for 80 because 5 x 16 = 80\n"
                            "She paid $190 for the lumber because 110 + 80 = 190\n"
                            "The same number now sells for $285 because 190 x 1.5 = 285\n"
                            "She made $95 in profit because 285 - 190 = 95\n"
                            "The answer is 95.")
    assert q.meta["wrong_checks"] == "strict"


def test_example_171_operator_swap_among_unit_words(prose) -> None:
    q = by_id(prose, 171)
    last = q.answers[1].splitlines()[-2:]
    assert last == [("Then add the number of each kind of leg to find the total he saw: "
                     "640 legs + 540 legs - 30 legs = 1150 legs"),
                    "The answer is 1150."]
    assert q.answers[1].splitlines()[:-2] == q.answers[0].splitlines()[:-2]


def test_example_1245_fallback_doubles_the_answer(prose) -> None:
    q = by_id(prose, 1245)  # algebra, no calculator annotations
    assert q.meta["wrong_method"] == "fallback_double" and q.meta["wrong_checks"] == "fallback"
    assert q.meta["wrong_answer"] == "192"
    assert q.answers[1].splitlines()[-2:] == [
        "Substituting this value back into the equation b = 5s - 4, we get b = 192", "The answer is 192."]


def test_worked_solution_options_on_a_small_made_up_item() -> None:
    # One step only: the rotation has nothing to choose; `-` -> `+` gives 15, strict.
    opts = worked_solution_options("Ann has 12 pens and gives 3 away. How many are left?",
                                   "She has 12 - 3 = <<12-3=9>>9 pens left.\n#### 9", key="any")
    assert opts.correct == "She has 12 - 3 = 9 pens left.\nThe answer is 9."
    assert opts.wrong == "She has 12 + 3 = 15 pens left.\nThe answer is 15."
    assert (opts.method, opts.checks, opts.step) == ("operator_swap", "strict", 0)
    with pytest.raises(ValueError, match="####"):
        worked_solution_options("q", "no final line", key="k")


# ------------------------------------------------------------------ the arithmetic


def test_safe_eval_is_arithmetic_only() -> None:
    assert safe_eval("16-3-4") == 9
    assert safe_eval("(2+3)*4") == 20
    assert safe_eval(".5*4") == 2
    assert safe_eval("2**3") == 8
    assert safe_eval("1/3") == Fraction(1, 3)
    assert safe_eval("3 - -2") == 5
    for junk in ("__import__('os')", "1/0", "2**1000", "1e9", "abs(-1)", "", "(1+2", "1+2)"):
        assert safe_eval(junk) is None, junk


def test_shift_unit() -> None:
    assert [shift_unit(Fraction(x)) for x in (2, 60, 99)] == [1, 1, 1]
    assert shift_unit(Fraction(80000)) == 10000
    assert shift_unit(Fraction(130)) == 100
    assert shift_unit(Fraction("1.5")) == 1
    assert shift_unit(Fraction("0.25")) == Fraction(1, 10)


# ------------------------------------------------------------------ math: GSM8KQA programs


def run_program(program: str) -> float | None:
    result = run_python(program_runner(program), timeout_s=10)
    assert result.status == "pass", result.stderr
    return printed_answer(result.stdout)


def test_programs_are_valid_binary_choices(programs, prose) -> None:
    assert len(programs) == 1260  # the 59 fallback items have no calculation step reaching the answer
    prose_by_id = {q.id: q for q in prose}
    fallback = {q.id for q in prose if q.meta["wrong_method"] == "fallback_double"}
    assert {q.id for q in programs} == set(prose_by_id) - fallback
    for q in programs:
        correct, wrong = q.answers
        assert q.task == "math" and q.correct_index == 0 and correct != wrong
        assert correct.rstrip().splitlines()[-1].startswith("answer = step_")
        assert q.meta["gold_answer"] == prose_by_id[q.id].meta["gold_answer"]
        assert Fraction(q.meta["wrong_answer"]) != Fraction(q.meta["gold_answer"])
        assert q.meta["source"] == "derived"


def test_example_0_program() -> None:
    opts = program_options(
        "Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her "
        "friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck "
        "egg. How much in dollars does she make every day at the farmers' market?",
        "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n"
        "She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer’s market.\n#### 18", "gsm8k/test/0")
    assert opts is not None
    assert opts.correct == ("# Janet sells 16 - 3 - 4 = 9 duck eggs a day.\nstep_1 = 16 - 3 - 4\n"
                            "# She makes 9 * 2 = $18 every day at the farmer’s market.\nstep_2 = step_1 * 2\n"
                            "answer = step_2\n")
    assert opts.wrong == opts.correct.replace("9 * 2 = $18", "9 * 3 = $27").replace("step_1 * 2", "step_1 * 3")
    assert (opts.gold, opts.wrong_value, opts.method) == (18, 27, "operand_shift")


def test_programs_execute_to_the_computed_values(programs) -> None:
    """A seeded sample of 40: the correct program prints the gold answer, the incorrect one its own value."""
    sample = [programs[i] for i in sorted(random.Random(1).sample(range(len(programs)), 40))]
    for q in sample:
        right, wrong = run_program(q.answers[0]), run_program(q.answers[1])
        assert right is not None and same_number(right, Fraction(q.meta["gold_answer"])), q.id
        assert wrong is not None and not same_number(wrong, Fraction(q.meta["gold_answer"])), q.id


def test_a_mutated_operand_that_is_a_variable_is_shifted_in_place() -> None:
    opts = program_options("Ann has 5 bags of 4 pens and buys 3 more pens. How many pens?",
                           "5*4=<<5*4=20>>20 pens in bags.\n20+3=<<20+3=23>>23 pens.\n#### 23", "k")
    assert opts is not None
    assert run_program(opts.correct) == 23
    assert run_program(opts.wrong) == float(opts.wrong_value) != 23


def test_loading_math_executes_nothing(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("loading must not execute code")

    monkeypatch.setattr("oversight.sandbox.run_python", refuse)
    monkeypatch.setattr("tasks.build.run_python", refuse)
    start = time.perf_counter()
    qs = load_questions("math", limit=8, seed=0)
    assert len(qs) == 8 and time.perf_counter() - start < 10


# ------------------------------------------------------------------ tasks build math


def test_build_needs_code_execution(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--allow-code-exec"):
        build_task("math", out=tmp_path / "m.jsonl", limit=2)
    assert not (tmp_path / "m.jsonl").exists()


def test_build_mutate_writes_verified_programs_that_load_back(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "built" / "math.jsonl"
    with code_execution():
        report = build_task("math", out=out, limit=6, seed=2)
    assert report.problems == 6 and report.written == report.counts["verified"] >= 5
    derived = load_questions("math", limit=6, seed=2)
    monkeypatch.setattr("oversight.sandbox.run_python", lambda *a, **k: pytest.fail("loading must not execute"))
    loaded = load_questions("math", data=out)
    assert len(loaded) == report.written
    by_id = {q.id: q for q in derived}
    for q in loaded:
        assert q.answers == by_id[q.id].answers and q.meta["source"] == "mutate"


class FakeAgent:
    """Replies per problem in turn: a correct program, a wrong one, prose with no code."""

    name = "fake"
    model = "fake"

    def __init__(self, replies_for):
        self.replies_for = replies_for
        self.requests = []

    def generate(self, requests):
        from oversight.types import Reply

        self.requests += requests
        return [Reply(text=self.replies_for(r, i)) for i, r in enumerate(requests)]

    def close(self):
        pass


def test_build_sample_keeps_one_correct_and_one_incorrect_program(tmp_path: Path) -> None:
    gold = {q.question: Fraction(q.meta["gold_answer"]) for q in load_questions("math-prose", limit=3, seed=4)}

    def reply(request, i):
        question = request.messages[-1].content.split("Problem: ", 1)[1]
        value = gold[question.strip()]
        return [f"```python\nanswer = {value}\n```", f"```python\nx = 1\nanswer = x + {value}\n```",
                "I think the answer is 7."][i % 3]

    agent = FakeAgent(reply)
    out = tmp_path / "sampled.jsonl"
    with code_execution():
        report = build_task("math", out=out, source="sample", limit=3, seed=4, samples=3, agent=agent)
    assert len(agent.requests) == 9 and len({r.sampling.seed for r in agent.requests}) == 9
    assert report.counts == {"programs correct": 3, "programs incorrect": 3, "programs invalid": 3, "kept": 3}
    qs = load_questions("math", data=out)
    assert len(qs) == 3
    for q in qs:
        assert q.meta["source"] == "sample" and "answer = x + " in q.answers[1]
        assert run_program(q.answers[0]) == float(gold[q.question])


def test_build_sample_writes_nothing_invalid(tmp_path: Path) -> None:
    agent = FakeAgent(lambda r, i: "```python\nanswer = 'not a number'\n```" if i % 2 else "no code at all")
    out = tmp_path / "none.jsonl"
    with code_execution():
        report = build_task("math", out=out, source="sample", limit=2, samples=2, agent=agent)
    assert report.written == 0 and report.counts["programs invalid"] == 4
    assert out.read_text() == ""


def seeded_replies(limit: int, seed: int):
    """A reply that depends on the request alone: a correct program on an even seed, an incorrect one on odd."""
    gold = {q.question: Fraction(q.meta["gold_answer"]) for q in load_questions("math-prose", limit=limit, seed=seed)}

    def reply(request, _i):
        value = gold[request.messages[-1].content.split("Problem: ", 1)[1].strip()]
        return f"```python\nanswer = {value + request.sampling.seed % 2}\n```"

    return reply


def test_sampled_programs_carry_request_seeds(tmp_path: Path) -> None:
    from protocols.base import request_seed
    from tasks.build import sample_problems

    agent = FakeAgent(seeded_replies(2, 3))
    with code_execution():
        build_task("math", out=tmp_path / "s.jsonl", source="sample", limit=2, seed=3, samples=3, agent=agent)
    ids = [p.id for p in sample_problems(limit=2, seed=3, data=None, split="test")]
    assert [r.sampling.seed for r in agent.requests] == [request_seed(3, qid, k) for qid in ids for k in range(3)]
    greedy = FakeAgent(lambda r, i: "no code")
    with code_execution():
        build_task("math", out=tmp_path / "g.jsonl", source="sample", limit=2, seed=3, samples=3, temperature=0.0,
                   agent=greedy)
    assert {r.sampling.seed for r in greedy.requests} == {None} and len(greedy.requests) == 2  # one per problem


def test_a_second_sample_build_is_answered_from_the_cache(tmp_path: Path) -> None:
    out = tmp_path / "sampled.jsonl"
    first, again = FakeAgent(seeded_replies(3, 5)), FakeAgent(seeded_replies(3, 5))
    with code_execution():
        report = build_task("math", out=out, source="sample", limit=3, seed=5, samples=4, agent=first)
        written = out.read_text()
        replayed = build_task("math", out=out, source="sample", limit=3, seed=5, samples=4, agent=again)
    assert len(first.requests) == 12 and again.requests == []  # no model call the second time
    assert cache_path(out).is_file() and out.read_text() == written
    assert replayed.counts == report.counts and replayed.written == report.written > 0


def test_an_interrupted_sample_build_resumes_from_the_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("oversight.experiments.build.PROBLEMS_PER_CALL", 1)  # one call per problem
    reply = seeded_replies(3, 6)

    class Interrupted(FakeAgent):
        def generate(self, requests):
            if self.requests:  # Ctrl-C during the second call
                raise KeyboardInterrupt
            return super().generate(requests)

    out = tmp_path / "resumed.jsonl"
    with code_execution():
        with pytest.raises(KeyboardInterrupt):
            build_task("math", out=out, source="sample", limit=3, seed=6, samples=2, agent=Interrupted(reply))
        assert not out.exists()
        rest = FakeAgent(reply)
        report = build_task("math", out=out, source="sample", limit=3, seed=6, samples=2, agent=rest)
    assert len(rest.requests) == 4  # the first problem's 2 samples came from the cache
    assert report.counts["programs correct"] + report.counts["programs incorrect"] == 6


def test_extract_program() -> None:
    assert extract_program("Here:\n```python\nanswer = 2\n```\nDone") == "answer = 2\n"
    assert extract_program("```\nanswer = 3\n") == "answer = 3\n"
    assert extract_program("answer = 4") is None


@pytest.mark.parametrize("line, message", [
    ({"id": "x", "question": "q", "answers": ["a", "a"], "correct_index": 0}, "identical"),
    ({"id": "x", "question": "q", "answers": ["a"], "correct_index": 0}, "two non-empty strings"),
    ({"id": "x", "question": "q", "answers": ["a", "b"], "correct_index": 2}, "'correct_index' must be 0 or 1"),
    ({"id": "x", "task": "code", "question": "q", "answers": ["a", "b"], "correct_index": 0}, "--task code"),
])
def test_a_bad_built_file_is_one_data_error(tmp_path: Path, line: dict, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(DataError, match=message):
        load_questions("math", data=path)


@pytest.mark.slow
def test_build_sample_with_the_embedded_agent(tmp_path: Path, vllm_agent) -> None:
    """2 problems x 2 samples, few tokens: whatever the model writes, counts add up and only verified items land."""
    out = tmp_path / "agent.jsonl"
    with code_execution():
        report = build_task("math", out=out, source="sample", limit=2, seed=0, samples=2, max_tokens=96,
                            agent=vllm_agent)
    counts = report.counts
    assert counts["programs correct"] + counts["programs incorrect"] + counts["programs invalid"] == 4
    assert report.written == counts.get("kept", 0)
    print(counts)
    for q in load_questions("math", data=out) if report.written else []:
        assert run_program(q.answers[0]) is not None and q.answers[0] != q.answers[1]
