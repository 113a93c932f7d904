"""Best-of-N: N candidates per turn in one batch, scored by the judge or picked by the agent; all stored."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from oversight.engine import Engine
from oversight.models.base import Backend
from oversight.models.scripted import ScriptedBackend
from oversight.types import Reply, Request
from protocols.base import BON_PLACEHOLDER, request_seed
from protocols.consultancy import Consultancy
from protocols.debate import Debate
from tests.helpers import make_questions, prompt

# P(answer 1) the scoring judge gives candidate k of a turn.
P_ANSWER1 = {0: 0.3, 1: 0.8, 2: 0.5, 3: 0.6}


class SeedAgent(Backend):
    """Writes an argument naming its candidate (its position among the batch's requests of its role) and
    records its requests; picks candidate `pick` when asked to select."""

    name = "seed-agent"

    def __init__(self, pick: int = 0) -> None:
        super().__init__("seed-agent")
        self.pick = pick
        self.seen: list[Request] = []

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        self.seen += requests
        roles = [r.role for r in requests]
        return [Reply(text=f"<argument>{r.role} seed={roles[:i].count(r.role)}</argument>")
                for i, r in enumerate(requests)]

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        self.seen += requests
        out = []
        for r in requests:
            probs = [0.1] * len(r.options)
            probs[self.pick] = 0.9
            out.append(Reply(option_probs=tuple(probs), option_mass=1.0))
        return out


class SeedJudge(Backend):
    """Scores by the seed of the last argument it reads (P_ANSWER1); records its requests."""

    name = "seed-judge"

    def __init__(self) -> None:
        super().__init__("seed-judge")
        self.seen: list[Request] = []

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        raise AssertionError("the judge generates nothing here")

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        self.seen += requests
        out = []
        for r in requests:
            seeds = [int(s) for s in re.findall(r"seed=(\d+)", prompt(r))]
            p = P_ANSWER1[seeds[-1] % 4] if seeds else 0.5
            out.append(Reply(option_probs=(p, 1 - p), option_mass=1.0))
        return out


def test_judge_scored_best_of_n_keeps_the_highest_scored_candidate_and_stores_all():
    agent, judge = SeedAgent(), SeedJudge()
    [question] = make_questions(1)
    [t] = Engine({"debater": agent, "judge": judge}).run(
        [("q", Debate(rounds=1, best_of_n=4, temperature=0.8, seed=0).run(question))]).values()
    a, b = t.turns
    # Alice argues answer 1: best is seed 1 (P=0.8); Bob argues answer 2: best is seed 0 (P(answer 2)=0.7).
    assert a.text == "debater_a seed=1" and a.meta["chosen"] == 1
    assert b.text == "debater_b seed=0" and b.meta["chosen"] == 0
    assert [c["score"] for c in a.meta["candidates"]] == pytest.approx([0.3, 0.8, 0.5, 0.6])
    assert [c["score"] for c in b.meta["candidates"]] == pytest.approx([0.7, 0.2, 0.5, 0.4])
    assert [c["raw"] for c in a.meta["candidates"]] == [f"<argument>debater_a seed={i}</argument>" for i in range(4)]
    # Candidates are sampled with distinct seeds, derived from their identity, at the run's temperature.
    seeds = [r.sampling.seed for r in agent.seen if r.role == "debater_a"]
    assert seeds == [request_seed(0, "turn", question.id, False, "debater_a", 0, 0, i, 0) for i in range(4)]
    assert len(set(seeds)) == 4
    assert {r.sampling.temperature for r in agent.seen} == {0.8}
    # Scoring requests put the candidate in the transcript and the opponent's turn as the placeholder.
    scoring = judge.seen[:8]
    assert all(BON_PLACEHOLDER in prompt(r) for r in scoring)
    assert sum("debater_a seed=" in prompt(r) for r in scoring) == 4


def test_best_of_n_backend_calls_stay_batched_across_questions():
    n, rounds, questions = 4, 2, 5
    agent, judge = ScriptedBackend("echo"), ScriptedBackend("first")
    done = Engine({"debater": agent, "judge": judge}).run(
        (q.id, Debate(rounds=rounds, best_of_n=n, temperature=0.8).run(q)) for q in make_questions(questions))
    # Per round: one generate call with 2 debaters x N candidates x all questions, one judge scoring call;
    # then one judge decision call.
    assert [(c.kind, c.size) for c in agent.calls] == [("generate", 2 * n * questions)] * rounds
    assert [(c.kind, c.size) for c in judge.calls] == [("choice", 2 * n * questions)] * rounds + [
        ("choice", 2 * questions)]  # the decision, in both label orders
    for t in done.values():
        assert all(len(turn.meta["candidates"]) == n for turn in t.turns)
        # the scripted sampler gives distinct candidates for distinct seeds
        assert len({c["raw"] for c in t.turns[0].meta["candidates"]}) == n


def test_self_scored_best_of_n_asks_the_agent_model_to_pick():
    agent, judge = SeedAgent(pick=2), SeedJudge()
    [question] = make_questions(1)
    protocol = Consultancy(rounds=1, best_of_n=3, bon_scorer="self", temperature=0.7, seed=10)
    [t] = Engine({"consultant": agent, "judge": judge}).run([("q", protocol.run(question, 0))]).values()
    [turn] = t.turns
    assert turn.meta["chosen"] == 2 and turn.text == "consultant seed=2"
    [select] = [r for r in agent.seen if r.kind == "choice"]
    assert select.role == "consultant" and select.options == ("1", "2", "3")
    assert all(f"consultant seed={s}" in prompt(select) for s in (0, 1, 2))
    assert len(judge.seen) == 2  # only the final decision, in both label orders: the judge scored nothing
