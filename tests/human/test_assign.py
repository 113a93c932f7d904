"""Properties of a judge's balanced assignment (`choose_items`, Khan et al. 2024's design) over synthetic items:
no story or question twice, strata balanced while they last, least-judged items first."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("sqlalchemy")

from oversight.human.db import Item  # noqa: E402
from oversight.human.trial import choose_items  # noqa: E402

PROTOCOLS = ("debate", "consultancy", "direct")
UNIQUE = st.sampled_from(["story", "question", "none"])


def make_item(ident: int, protocol: str, consultant_correct: bool | None, story: int, question: int) -> Item:
    return Item(id=ident, protocol=protocol, consultant_correct=consultant_correct, story=f"story-{story}",
                question_id=f"quality/{story}/{question}", key=f"quality/{story}/{question}#{ident}")


@st.composite
def pools(draw) -> tuple[list[Item], Counter]:
    """Items of a few stories (each with a few questions) in every stratum, and how often each was judged."""
    stories = draw(st.integers(1, 8))
    items = []
    for ident in range(1, draw(st.integers(0, 40)) + 1):
        protocol = draw(st.sampled_from(PROTOCOLS))
        side = draw(st.booleans()) if protocol == "consultancy" else None
        items.append(make_item(ident, protocol, side, draw(st.integers(0, stories - 1)), draw(st.integers(0, 2))))
    load = Counter({item.id: draw(st.integers(0, 3)) for item in items if draw(st.booleans())})
    return items, load


def stratum_of(item: Item) -> tuple[str, bool | None]:
    return item.protocol, item.consultant_correct


def blocked(item: Item, chosen: list[Item], unique: str) -> bool:
    """Whether `item` would repeat a story or question of `chosen` (what `unique` forbids)."""
    questions = {c.question_id for c in chosen}
    stories = {c.story for c in chosen}
    if unique == "none":
        return False
    if unique == "question":
        return item.question_id in questions
    return item.question_id in questions or item.story in stories


def choose(items: list[Item], load: Counter, count: int, unique: str, seed: int) -> list[Item]:
    return choose_items(items, load, count, unique, rng=random.Random(seed))  # type: ignore[arg-type]


@settings(max_examples=120, deadline=None)
@given(pool=pools(), count=st.integers(1, 30), unique=UNIQUE, seed=st.integers(0, 2**32))
def test_no_story_or_question_twice_and_nothing_left_that_fits(pool, count, unique, seed):
    items, load = pool
    before = [item.id for item in items]
    chosen = choose(items, load, count, unique, seed)
    assert [item.id for item in items] == before, "the caller's list is left as it was"
    ids = [item.id for item in chosen]
    assert len(ids) == len(set(ids)) and set(ids) <= set(before) and len(chosen) <= count
    if unique in ("story", "question"):
        assert len({item.question_id for item in chosen}) == len(chosen)
    if unique == "story":
        assert len({item.story for item in chosen}) == len(chosen)
    if unique == "none":
        assert len(chosen) == min(count, len(items))
    if len(chosen) < count:  # short only when every item left would repeat a story/question
        assert all(blocked(item, chosen, unique) for item in items if item.id not in ids)
    assert [item.id for item in choose(items, load, count, unique, seed)] == ids, "a seed gives one assignment"


@settings(max_examples=120, deadline=None)
@given(pool=pools(), count=st.integers(1, 30), unique=UNIQUE, seed=st.integers(0, 2**32))
def test_a_stratum_falls_behind_only_when_it_has_nothing_left(pool, count, unique, seed):
    items, load = pool
    chosen = choose(items, load, count, unique, seed)
    sizes = Counter(stratum_of(item) for item in chosen)
    ids = {item.id for item in chosen}
    for behind in {stratum_of(item) for item in items}:
        if max(sizes.values(), default=0) >= sizes[behind] + 2:
            left = [item for item in items if stratum_of(item) == behind and item.id not in ids]
            assert all(blocked(item, chosen, unique) for item in left), (behind, sizes)


@settings(max_examples=100, deadline=None)
@given(strata=st.lists(st.sampled_from([("debate", None), ("consultancy", True), ("consultancy", False),
                                        ("direct", None), ("direct-article", None)]), min_size=1, max_size=5,
                       unique=True),
       count=st.integers(1, 20), extra=st.integers(0, 3), unique=UNIQUE, seed=st.integers(0, 2**32))
def test_strata_differ_by_at_most_one_when_enough_items_exist(strata, count, extra, unique, seed):
    per_stratum = math.ceil(count / len(strata)) + extra
    items = [make_item(len(strata) * n + s + 1, protocol, side, story=len(strata) * n + s, question=0)
             for n in range(per_stratum) for s, (protocol, side) in enumerate(strata)]  # every story its own
    chosen = choose(items, Counter(), count, unique, seed)
    assert len(chosen) == count
    sizes = Counter(stratum_of(item) for item in chosen)
    assert max(sizes.values()) - min(sizes[key] for key in strata) <= 1, sizes


@settings(max_examples=120, deadline=None)
@given(pool=pools(), count=st.integers(1, 30), unique=UNIQUE, seed=st.integers(0, 2**32))
def test_least_judged_items_are_taken_first(pool, count, unique, seed):
    items, load = pool
    chosen = choose(items, load, count, unique, seed)
    ids = {item.id for item in chosen}
    for pick in chosen:
        passed_over = [item for item in items if stratum_of(item) == stratum_of(pick) and item.id not in ids
                       and load[item.id] < load[pick.id]]
        # a less-judged item of the same stratum is left only when it would repeat a story/question
        assert all(blocked(item, chosen, unique) for item in passed_over), (pick.id, load)
    if unique == "none":
        for key in {stratum_of(item) for item in chosen}:
            taken = [load[item.id] for item in chosen if stratum_of(item) == key]
            left = [load[item.id] for item in items if stratum_of(item) == key and item.id not in ids]
            assert not left or max(taken) <= min(left)


def test_the_least_judged_story_goes_to_the_next_judge():
    """Two items of one stratum and story: the one judged less is the one chosen, whatever the seed."""
    items = [make_item(1, "debate", None, story=0, question=0), make_item(2, "debate", None, story=0, question=1)]
    for seed in range(20):
        assert [item.id for item in choose(items, Counter({1: 2, 2: 1}), 1, "story", seed)] == [2]
        assert [item.id for item in choose(items, Counter({1: 0, 2: 1}), 1, "story", seed)] == [1]
