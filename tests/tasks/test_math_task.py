"""tasks/math.py: GSM8K as a choice between the gold worked solution and a perturbed one."""

from __future__ import annotations

import collections
import json
import time
from fractions import Fraction
from pathlib import Path

import pytest

from tasks import load_questions
from tasks.math import safe_eval, shift_unit, worked_solution_options


def by_id(questions, index: int):
    return next(q for q in questions if q.id == f"gsm8k/test/{index}")


# ------------------------------------------------------------------ the whole split


def test_every_question_is_a_valid_binary_choice(gsm8k_test, data_dir: Path) -> None:
    rows = [json.loads(line) for line in (data_dir / "gsm8k" / "test.jsonl").read_text("utf-8").splitlines()]
    assert len(gsm8k_test) == len(rows) == 1319
    assert len({q.id for q in gsm8k_test}) == 1319
    for i, (q, row) in enumerate(zip(gsm8k_test, rows, strict=True)):
        assert q.id == f"gsm8k/test/{i}" and q.task == "math" and q.context is None
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


def test_method_shares_on_the_test_split(gsm8k_test) -> None:
    """Regression guard for the construction (measured: ~90% strict, ~6% relaxed, ~4.5% fallback)."""
    n = len(gsm8k_test)
    methods = collections.Counter(q.meta["wrong_method"] for q in gsm8k_test)
    checks = collections.Counter(q.meta["wrong_checks"] for q in gsm8k_test)
    print({k: f"{100 * v / n:.1f}%" for k, v in (methods + checks).items()})
    assert checks["strict"] / n >= 0.85
    assert checks["fallback"] / n <= 0.06
    assert methods["operator_swap"] / n >= 0.3 and methods["operand_shift"] / n >= 0.3
    strict_wrong = [Fraction(q.meta["wrong_answer"])
                    for q in gsm8k_test if q.meta["wrong_checks"] == "strict"]
    assert all(w >= 0 and w.denominator == 1 for w in strict_wrong)


def test_the_mistake_is_spread_over_the_solution(gsm8k_test) -> None:
    steps = collections.Counter(q.meta["wrong_step"] for q in gsm8k_test)
    assert steps[0] > 150 and steps[1] > 150 and steps[2] > 150


def test_loading_is_deterministic_and_fast(gsm8k_test, data_dir: Path) -> None:
    start = time.perf_counter()
    again = load_questions("math", data=data_dir)
    elapsed = time.perf_counter() - start
    assert [(q.id, q.answers, q.meta) for q in again] == [(q.id, q.answers, q.meta) for q in gsm8k_test]
    print(f"built 1319 GSM8K questions in {elapsed:.2f} s")
    assert elapsed < 5  # ~0.6 s on a 2-core machine


# ------------------------------------------------------------------ hand-checked examples


def test_example_0_operand_shift(gsm8k_test) -> None:
    # Janet: 16 - 3 - 4 = 9 eggs; 9 * 2 = $18. Mistake in step 2 (crc32 rotation): `9/2` is not an
    # integer, so the operand shift 2 -> 3 gives 9 * 3 = 27.
    q = by_id(gsm8k_test, 0)
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


def test_example_1_operator_swap(gsm8k_test) -> None:
    q = by_id(gsm8k_test, 1)
    assert q.answers[1] == ("It takes 2/2=1 bolt of white fiber\n"
                            "So the total amount of fabric is 2-1=1 bolts of fabric\n"
                            "The answer is 1.")
    assert q.meta["wrong_method"] == "operator_swap" and q.meta["wrong_detail"] == "step 2: 2+1=3 -> 2-1=1"


def test_example_271_change_propagates_through_later_steps(gsm8k_test) -> None:
    # 3*2=6 -> 3/2 is not an integer, so 3*3=9; then 9+4=13 and 13*2=26.
    q = by_id(gsm8k_test, 271)
    assert q.answers[1] == ("Each house has 3*3=9 windows for the bedrooms\n"
                            "So each house has 9+4=13 windows\n"
                            "So the total number of windows is 13*2=26 windows\n"
                            "The answer is 26.")


def test_example_115_unannotated_prose_steps_and_later_mentions(gsm8k_test) -> None:
    # "10 x 10 = 100" carries no annotation: it is still a step. 10/10=1 would make 1.5*81 = 121.5,
    # so the operand shift 10 -> 11 wins: 110, 110+80=190, 190*1.5=285, 285-190=95; the "$100" and
    # "$180"/"$270"/"$90" mentions before each equation follow.
    q = by_id(gsm8k_test, 115)
    assert q.answers[1] == ("She bought the 2 x 4s for $110 because 10 x 11 = 110\n"
                            "She bought the 4 x 4s for 80 because 5 x 16 = 80\n"
                            "She paid $190 for the lumber because 110 + 80 = 190\n"
                            "The same number now sells for $285 because 190 x 1.5 = 285\n"
                            "She made $95 in profit because 285 - 190 = 95\n"
                            "The answer is 95.")
    assert q.meta["wrong_checks"] == "strict"


def test_example_171_operator_swap_among_unit_words(gsm8k_test) -> None:
    q = by_id(gsm8k_test, 171)
    last = q.answers[1].splitlines()[-2:]
    assert last == [("Then add the number of each kind of leg to find the total he saw: "
                     "640 legs + 540 legs - 30 legs = 1150 legs"),
                    "The answer is 1150."]
    assert q.answers[1].splitlines()[:-2] == q.answers[0].splitlines()[:-2]


def test_example_1245_fallback_doubles_the_answer(gsm8k_test) -> None:
    q = by_id(gsm8k_test, 1245)  # algebra, no calculator annotations
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
