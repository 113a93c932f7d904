"""tasks/framing.py: the answer order the judge sees."""

from __future__ import annotations

import pytest

from oversight.errors import ConfigError
from oversight.types import Question
from tasks import apply_order


def toy(n: int, start: int = 0) -> list[Question]:
    return [Question(id=f"toy/{i}", task="toy", question=f"{i}+{i}?", answers=(f"{2 * i}", f"{2 * i + 1}"),
                     correct_index=0) for i in range(start, start + n)]


def test_fixed_is_as_loaded() -> None:
    qs = toy(5)
    assert apply_order(qs, "fixed", 0) == qs


def test_both_doubles_and_swaps_consistently() -> None:
    qs = toy(4)
    out = apply_order(qs, "both", 0)
    assert len(out) == 8
    for q, (a, b) in zip(qs, zip(out[::2], out[1::2], strict=True), strict=True):
        assert a.id == b.id == q.id
        assert (a.meta["order"], b.meta["order"]) == (0, 1)
        assert (a.meta["swapped"], b.meta["swapped"]) == (False, True)
        assert a.answers == q.answers and a.correct_index == 0
        assert b.answers == q.answers[::-1] and b.correct_index == 1
        assert a.answers[a.correct_index] == b.answers[b.correct_index] == q.answers[0]


def test_random_keeps_the_correct_answer_and_records_the_order() -> None:
    qs = toy(50)
    for q, r in zip(qs, apply_order(qs, "random", 3), strict=True):
        assert r.answers[r.correct_index] == q.answers[0]
        assert r.meta["order"] == r.correct_index == int(r.meta["swapped"])


def test_random_is_stable_under_adding_and_reordering_questions() -> None:
    base = apply_order(toy(100), "random", 5)
    more = apply_order(toy(100) + toy(500, start=100), "random", 5)
    assert [q.correct_index for q in more[:100]] == [q.correct_index for q in base]
    reversed_ = apply_order(list(reversed(toy(100))), "random", 5)
    assert {q.id: q.correct_index for q in reversed_} == {q.id: q.correct_index for q in base}
    other_seed = apply_order(toy(100), "random", 6)
    assert [q.correct_index for q in other_seed] != [q.correct_index for q in base]


def test_random_is_roughly_balanced_on_gsm8k(gsm8k_test) -> None:
    for seed in (0, 1, 2):
        out = apply_order(gsm8k_test, "random", seed)
        share = sum(q.correct_index for q in out) / len(out)
        assert 0.45 <= share <= 0.55, (seed, share)


def test_unknown_order_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown answer order 'sideways'.*random, both, fixed"):
        apply_order(toy(2), "sideways", 0)
