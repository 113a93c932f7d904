"""Open consultancy and open debate, live: the agent answers first, then argues its own choice."""

from __future__ import annotations

from oversight.engine import Engine
from oversight.models.scripted import ScriptedBackend
from protocols.consultancy import OpenConsultancy
from protocols.debate import OpenDebate
from protocols.open import agent_choice_columns
from tests.helpers import Recorder, make_questions, prompt


def test_open_consultancy_argues_the_answer_the_consultant_chose():
    for pick in (0, 1):
        consultant, judge = Recorder(judge_pick=pick), ScriptedBackend("first")
        protocol = OpenConsultancy(rounds=1, debias=False)  # a judge of pure position: one label order
        questions = make_questions(3, context="THE ARTICLE")
        episodes = [(q.id + v, e) for q in questions for v, e in protocol.episodes(q)]
        done = Engine({"consultant": consultant, "judge": judge}).run(episodes)
        assert len(done) == 3  # one episode per question, not two
        for t in done.values():
            assert t.assignment == {"consultant": pick} and t.meta["agent_choice"] == pick
            assert t.meta["agent_probs"][pick] > 0.5
        choose, argue = consultant.seen[0], consultant.seen[3]
        assert choose.kind == "choice" and "THE ARTICLE" in prompt(choose)  # agents may read the article
        assert f"defend Answer {pick + 1}" in prompt(argue) and "You chose one of" in prompt(argue)
        columns = agent_choice_columns(next(iter(done.values())))
        assert columns == {"agent_choice": pick, "agent_correct": pick == 0, "agent_choice_valid": True,
                           "judge_agrees": pick == 0}
        [decision] = [c for c in judge.calls if c.kind == "choice"]
        assert decision.size == 3


def test_open_debate_marks_the_protagonist_and_keeps_alice_on_answer_one():
    debater, judge = Recorder(judge_pick=1), Recorder(judge_pick=1)
    [question] = make_questions(1)
    [t] = Engine({"debater": debater, "judge": judge}).run([("q", OpenDebate(rounds=1, debias=False).run(question))]).values()
    assert t.protocol == "open-debate" and t.assignment == {"debater_a": 0, "debater_b": 1}
    assert t.meta["protagonist"] == "debater_b" and t.meta["agent_choice"] == 1
    assert [r.role for r in debater.seen] == ["debater_a", "debater_a", "debater_b"]  # choice, then both argue
    assert agent_choice_columns(t) == {"agent_choice": 1, "agent_correct": False, "agent_choice_valid": True,
                                       "judge_agrees": True}
    # the judge never learns which side the agent chose
    assert all("protagonist" not in prompt(r).lower() and "chose" not in prompt(r) for r in judge.seen)
