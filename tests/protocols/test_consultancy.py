"""Consultancy: both assignments per question, judge questions between rounds, what each role sees."""

from __future__ import annotations

from oversight.engine import Engine
from oversight.models.scripted import ScriptedBackend
from protocols.consultancy import Consultancy
from tests.helpers import Recorder, make_questions, prompt


def run(rounds: int, n: int = 1, context: str | None = "THE ARTICLE TEXT"):
    consultant, judge = Recorder(), Recorder()
    protocol = Consultancy(rounds=rounds)
    episodes = [(f"{q.id}/{variant}", episode) for q in make_questions(n, context=context)
                for variant, episode in protocol.episodes(q)]
    done = Engine({"consultant": consultant, "judge": judge}).run(episodes)
    return done, consultant.seen, judge.seen


def test_every_question_is_argued_under_both_assignments():
    done, _, _ = run(rounds=1, n=3)
    assert len(done) == 6
    assert sorted(t.assignment["consultant"] for t in done.values()) == [0, 0, 0, 1, 1, 1]
    assert {key.split("/")[1] for key in done} == {"consultant=0", "consultant=1"}


def test_turn_order_and_judge_questions_reach_the_consultant():
    done, consultant_seen, judge_seen = run(rounds=3)
    transcript = done["q0/consultant=1"]
    assert [(t.role, t.round) for t in transcript.turns] == [
        ("consultant", 0), ("judge", 0), ("consultant", 1), ("judge", 1), ("consultant", 2)]
    # The judge asked (generate) twice per episode, then decided (choice) in both label orders.
    kinds = [r.kind for r in judge_seen]
    assert kinds.count("generate") == 4 and kinds.count("choice") == 4  # two episodes: 2 questions + 2 verdicts each
    later = [prompt(r) for r in consultant_seen if "round 3 of 3" in prompt(r)]
    assert later and all("PUBLIC-judge" in text for text in later)
    assert all("SECRET" not in prompt(r) for r in consultant_seen + judge_seen)


def test_judge_sees_the_assignment_and_arguments_but_not_the_article():
    _, consultant_seen, judge_seen = run(rounds=2)
    assert all("THE ARTICLE TEXT" in prompt(r) for r in consultant_seen)
    assert all("THE ARTICLE TEXT" not in prompt(r) for r in judge_seen)
    decisions = [r for r in judge_seen if r.kind == "choice"]
    assert len(decisions) == 4  # each of the two episodes in both label orders
    assert {("argues for Answer 1" in prompt(r), "argues for Answer 2" in prompt(r)) for r in decisions} == {
        (True, False), (False, True)}
    assert all("PUBLIC-consultant" in prompt(r) for r in decisions)


def test_consultancy_rounds_stay_batched_across_questions():
    consultant, judge = ScriptedBackend("echo"), ScriptedBackend("first")
    protocol = Consultancy(rounds=2)
    episodes = [(f"{q.id}/{v}", e) for q in make_questions(4) for v, e in protocol.episodes(q)]
    Engine({"consultant": consultant, "judge": judge}).run(episodes)
    assert [(c.kind, c.size) for c in consultant.calls] == [("generate", 8), ("generate", 8)]
    assert [(c.kind, c.size) for c in judge.calls] == [("generate", 8), ("choice", 16)]
