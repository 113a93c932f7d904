"""What each role sees in debate and direct QA, and how answer order maps to labels."""

from __future__ import annotations

import pytest

from oversight.engine import Engine
from oversight.models.scripted import ScriptedBackend
from protocols.base import public_argument
from protocols.debate import Debate
from protocols.direct import DirectQA
from tests.helpers import Recorder, make_questions, prompt


def run_debate(rounds: int = 2, context: str | None = "THE ARTICLE TEXT"):
    agents, judge = Recorder(), Recorder()
    [question] = make_questions(1, context=context)
    [transcript] = Engine({"debater": agents, "judge": judge}).run(
        [("q", Debate(rounds=rounds).run(question))]).values()
    return question, transcript, agents.seen, judge.seen


def test_debaters_see_question_both_answers_and_their_own_assignment():
    question, _, seen, _ = run_debate(rounds=1)
    by_role = {r.role: prompt(r) for r in seen}
    for role, position in (("debater_a", 1), ("debater_b", 2)):
        text = by_role[role]
        assert question.question in text
        assert question.answers[0] in text and question.answers[1] in text
        assert f"you defend Answer {position}" in text
        assert "THE ARTICLE TEXT" in text  # agents may read the source text


def test_later_rounds_show_both_public_arguments_but_never_private_thinking():
    _, transcript, seen, _ = run_debate(rounds=2)
    round_two = [prompt(r) for r in seen[2:]]
    assert len(round_two) == 2
    for text in round_two:
        assert "PUBLIC-debater_a" in text and "PUBLIC-debater_b" in text
        assert "SECRET" not in text
    assert [t.text for t in transcript.turns] == ["PUBLIC-debater_a", "PUBLIC-debater_b"] * 2
    assert transcript.turns[0].raw.startswith("<thinking>SECRET")


def test_judge_sees_arguments_but_not_thinking_nor_the_article():
    question, _, _, judge_seen = run_debate(rounds=2)
    request, swapped = judge_seen  # the decision in both label orders
    assert "Alice argues for Answer 2 and Bob argues for Answer 1" in prompt(swapped)
    assert prompt(swapped).index(question.answers[1]) < prompt(swapped).index(question.answers[0])
    assert "SECRET" not in prompt(swapped) and "THE ARTICLE TEXT" not in prompt(swapped)
    text = prompt(request)
    assert "Alice argues for Answer 1 and Bob argues for Answer 2" in text
    assert request.kind == "choice" and request.options == ("1", "2")
    assert question.answers[0] in text and question.answers[1] in text
    assert text.count("PUBLIC-debater_a") == 2 and text.count("PUBLIC-debater_b") == 2
    assert "SECRET" not in text and "THE ARTICLE TEXT" not in text
    # The judge prompt reminds it that the order is random and ends on an open "Answer:" so the
    # next token is the label.
    assert "order of the two answers is random" in text
    assert request.messages[-1].role == "assistant" and request.messages[-1].content == "Answer:"


def test_direct_judge_sees_only_question_and_answers():
    judge = Recorder()
    [question] = make_questions(1, context="THE ARTICLE TEXT")
    Engine({"judge": judge}).run([("q", DirectQA().run(question))])
    for request in judge.seen:  # both label orders
        text = prompt(request)
        assert question.question in text and question.answers[1] in text
        assert "THE ARTICLE TEXT" not in text and "debate" not in text.lower()
    assert len(judge.seen) == 2


def test_swapping_answer_order_swaps_debater_sides_and_labels():
    [question] = make_questions(1)
    swapped = question.swapped()
    transcripts = Engine({"debater": Recorder(), "judge": ScriptedBackend("first")}).run(
        [("a", Debate(rounds=1).run(question)), ("b", Debate(rounds=1).run(swapped))])
    # A judge that always picks label 1 is right on one order and wrong on the other...
    raw = [transcripts[k].decision.raw for k in "ab"]
    assert [d.verdict for d in raw] == [0, 0]
    # ...and, order-debiased, it has no preference at all: both orders tie, an invalid decision.
    assert all(transcripts[k].decision.invalid and transcripts[k].decision.probs[0] == pytest.approx(0.5) for k in "ab")
    assert not transcripts["a"].correct and not transcripts["b"].correct
    assert swapped.answers == question.answers[::-1] and swapped.correct_index == 1


def test_public_argument_extraction():
    assert public_argument("<thinking>x</thinking><argument> y </argument>") == "y"
    assert public_argument("<thinking>x</thinking> plain text") == "plain text"
    assert public_argument("<argument>cut off mid-sentence") == "cut off mid-sentence"
    assert public_argument("<thinking>never closed") == ""


def test_public_argument_is_cut_at_the_word_limit_keeping_line_breaks():
    raw = "<argument>one two\nthree four five</argument>"
    assert public_argument(raw, word_limit=3) == "one two\nthree ..."
    assert public_argument(raw, word_limit=5) == "one two\nthree four five"


def same_round_views(turns: str):
    agents = Recorder()
    [question] = make_questions(1)
    Engine({"debater": agents, "judge": Recorder()}).run([("q", Debate(rounds=1, turns=turns).run(question))])
    return {r.role: prompt(r) for r in agents.seen}, agents


def test_simultaneous_debaters_never_see_the_same_round_argument():
    views, _ = same_round_views("simultaneous")
    assert "PUBLIC-debater_b" not in views["debater_a"] and "PUBLIC-debater_a" not in views["debater_b"]


def test_sequential_debater_b_sees_a_of_the_same_round():
    views, _ = same_round_views("sequential")
    assert "PUBLIC-debater_a" in views["debater_b"]
    assert "PUBLIC-debater_b" not in views["debater_a"]


def test_sequential_turns_are_separate_batched_steps():
    debater, judge = ScriptedBackend("echo"), ScriptedBackend("first")
    Engine({"debater": debater, "judge": judge}).run(
        (q.id, Debate(rounds=2, turns="sequential").run(q)) for q in make_questions(5))
    assert [c.roles for c in debater.calls] == [("debater_a",) * 5, ("debater_b",) * 5] * 2


def test_qa_with_article_shows_the_judge_the_source_text():
    from protocols.direct import DirectQAWithArticle

    judge = Recorder()
    [question] = make_questions(1, context="THE ARTICLE TEXT")
    Engine({"judge": judge}).run([("q", DirectQAWithArticle().run(question))])
    assert "THE ARTICLE TEXT" in prompt(judge.seen[0])
