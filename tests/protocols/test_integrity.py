"""What a run measures is what it says: per-request seeds, order-debiased decisions, no silent fallback."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest

from oversight.engine import Engine
from oversight.models.base import Backend
from oversight.models.scripted import ScriptedBackend
from oversight.types import JudgeDecision, Question, Reply, Request
from protocols.base import debiased_decision
from protocols.consultancy import Consultancy, OpenConsultancy
from protocols.debate import Debate, OpenDebate
from protocols.direct import DirectQA
from tests.helpers import make_questions, prompt

# ------------------------------------------------------------------------------------------- seeds


class SeedLog(ScriptedBackend):
    """The scripted backend, keeping every request it was sent."""

    def __init__(self, model: str = "echo") -> None:
        super().__init__(model)
        self.seen: list[Request] = []

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        self.seen += requests
        return super().generate(requests)

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        self.seen += requests
        return super().choice(requests)


def sampled_run(seed: int = 0) -> list[Request]:
    agent, judge = SeedLog(), SeedLog("first")
    questions = make_questions(4)
    episodes = [(q.id, Debate(rounds=3, temperature=0.4, seed=seed).run(q)) for q in questions]
    episodes += [(q.id + "/swapped", Debate(rounds=3, temperature=0.4, seed=seed).run(q.swapped()))
                 for q in questions]
    protocol = Consultancy(rounds=2, temperature=0.4, seed=seed)
    episodes += [(f"{q.id}/c{v}", e) for q in questions for v, e in protocol.episodes(q)]
    Engine({"debater": agent, "consultant": agent, "judge": judge}).run(episodes)
    return agent.seen


def test_every_sampled_request_of_a_run_has_its_own_seed_and_a_rerun_the_same_ones():
    requests = sampled_run()
    seeds = [r.sampling.seed for r in requests]
    # both debaters, every question and order, every round, both consultancy assignments: 4 x 2 x 3 x 2 + 4 x 2 x 2
    assert len(seeds) == 64 and None not in seeds
    assert len(set(seeds)) == len(seeds)  # pairwise distinct: no two requests share a random stream
    assert [r.sampling.seed for r in sampled_run()] == seeds  # reproducible, as on resume
    assert set(r.sampling.seed for r in sampled_run(seed=1)).isdisjoint(seeds)  # the run seed enters every one


def test_debaters_no_longer_open_alike():
    # Both debaters of one debate see the same first-round prompt apart from their side; with one shared seed
    # a sampler would start both from the same random stream.
    requests = sampled_run()
    first = [r for r in requests if r.role.startswith("debater")][:2]
    assert {r.role for r in first} == {"debater_a", "debater_b"}
    assert first[0].sampling.seed != first[1].sampling.seed


def test_greedy_requests_carry_no_seed():
    agent = SeedLog()
    Engine({"debater": agent, "judge": SeedLog("first")}).run(
        (q.id, Debate(rounds=1).run(q)) for q in make_questions(2))
    assert {r.sampling.seed for r in agent.seen} == {None}


# ------------------------------------------------------------------------------ order-debiased judging


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


class BiasedJudge(Backend):
    """P(label 1) = sigmoid(bias + signal), where signal is +-strength toward the correct answer on the
    questions the judge knows (`known`), and 0 elsewhere. The correct answer is marked in the answer text."""

    name = "biased"

    def __init__(self, bias: float, known: set[str], strength: float = 1.0) -> None:
        super().__init__("biased")
        self.bias, self.known, self.strength = bias, known, strength

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        raise AssertionError("the judge only decides here")

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        out = []
        for r in requests:
            text = prompt(r)
            qid = text.split("Question: ", 1)[1].split(" ", 1)[0]
            first_correct = text.index("Answer 1: yes") < text.index("Answer 2:") if "Answer 1: yes" in text else False
            signal = (self.strength if first_correct else -self.strength) if qid in self.known else 0.0
            p1 = sigmoid(self.bias + signal)
            out.append(Reply(option_probs=(p1, 1 - p1), option_mass=1.0, top_is_option=True))
        return out


def planted(n: int, s: float, bias: float = 4.0, debias: bool = True) -> tuple[float, float, float]:
    """(raw accuracy, episode accuracy, share known) of direct QA with a judge of position bias `bias` that knows
    the answer to a share `s` of `n` questions, the answers in random order."""
    rng = random.Random(0)
    questions = []
    for i in range(n):
        q = Question(id=f"q{i}", task="toy", question=f"q{i} which?", answers=("yes, right", "no, wrong"),
                     correct_index=0)
        questions.append(q.swapped() if rng.random() < 0.5 else q)
    known = {q.id for q in questions if rng.random() < s}
    done = Engine({"judge": BiasedJudge(bias, known)}).run(
        (q.id, DirectQA(debias=debias).run(q)) for q in questions)
    raw = sum(t.decision.raw.verdict == t.question.correct_index for t in done.values()) / n
    return raw, sum(t.correct for t in done.values()) / n, len(known) / n


@pytest.mark.parametrize("s", [0.2, 0.5, 0.8])
def test_debiased_decisions_recover_the_signal_a_position_bias_hides(s):
    raw, debiased, known = planted(400, s)
    # The bias (log-odds 4) outweighs the signal (1): the judge always says "1", right only when answer 1 is.
    assert raw == pytest.approx(0.5, abs=0.06)
    # Averaging the two label orders cancels the bias: right wherever it knows, a tie (invalid) elsewhere.
    assert debiased == pytest.approx(known)
    raw_off, single, _ = planted(400, s, debias=False)
    assert single == raw_off == raw  # --no-debias: the presented order's decision alone


def test_debiased_decision_is_the_mean_of_the_two_orders_log_odds():
    presented = JudgeDecision(probs=(0.9, 0.1), verdict=0)
    swapped = JudgeDecision(probs=(0.6, 0.4), verdict=0)  # the swapped view's answer 1 is the presented answer 2
    d = debiased_decision(presented, swapped)
    z = (math.log(0.9 / 0.1) + math.log(0.4 / 0.6)) / 2
    assert d.probs[0] == pytest.approx(sigmoid(z)) and d.verdict == 0 and not d.invalid
    assert d.orders == (presented, JudgeDecision(probs=(0.4, 0.6), verdict=1))
    assert d.raw is presented and d.debiased
    # either order invalid -> invalid, probabilities kept
    bad = debiased_decision(presented, JudgeDecision(probs=(0.3, 0.7), verdict=None, invalid=True))
    assert bad.invalid and bad.verdict is None and math.isfinite(bad.probs[0])
    # a structured (text-read) order makes the whole decision structured
    assert debiased_decision(presented, JudgeDecision((0.0, 1.0), 1, method="structured")).method == "structured"


def test_a_debiased_transcript_round_trips_with_both_orders():
    from oversight.types import Transcript

    [t] = Engine({"judge": ScriptedBackend("correct")}).run(
        [("q", DirectQA().run(make_questions(1)[0]))]).values()
    again = Transcript.from_dict(t.to_dict())
    assert again.decision == t.decision and len(again.decision.orders) == 2


# ------------------------------------------------------------------------------------ open protocols


class Undecided(ScriptedBackend):
    """An agent whose choice is invalid (its top next token is no label); a judge preferring label 1."""

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        return [Reply(option_probs=(0.9, 0.1), option_mass=0.01, top_is_option=False) if r.role != "judge"
                else Reply(option_probs=(0.7, 0.3), option_mass=1.0) for r in requests]


@pytest.mark.parametrize("protocol", [OpenConsultancy, OpenDebate])
def test_an_invalid_agent_choice_is_a_seeded_coin_recorded_per_episode_not_answer_one(protocol):
    questions = make_questions(40)
    done = Engine({"debater": Undecided(), "consultant": Undecided(), "judge": Undecided()}).run(
        (q.id, protocol(rounds=1).run(q)) for q in questions)
    sides = [done[q.id].meta["agent_choice"] for q in questions]
    assert all(done[q.id].meta["agent_choice_valid"] is False for q in questions)
    assert 10 < sum(sides) < 30  # both sides, not always answer 1 (0.9 in the agent's invalid reply)
    again = Engine({"debater": Undecided(), "consultant": Undecided(), "judge": Undecided()}).run(
        (q.id, protocol(rounds=1).run(q)) for q in questions)
    assert [again[q.id].meta["agent_choice"] for q in questions] == sides  # seeded: reproducible
    row = protocol(rounds=1).columns(done[questions[0].id])
    assert row["agent_choice_valid"] is False


# --------------------------------------------------------------------------------- agent turns


def test_agent_generation_stops_at_the_end_of_the_argument():
    # `ramble` writes on after its argument unless a stop sequence ends it: nothing after </argument> is generated.
    [t] = Engine({"debater": ScriptedBackend("ramble"), "judge": ScriptedBackend("first")}).run(
        [("q", Debate(rounds=2).run(make_questions(1)[0]))]).values()
    assert all(turn.raw.endswith("</argument>") and "one more thing" not in turn.raw for turn in t.turns)
    assert all(turn.meta["format"] == "tagged" and turn.meta["attempts"] == 1 for turn in t.turns)


def test_replicas_of_one_episode_draw_different_samples():
    # RL plays every question several times (a group): each play is a replica with its own seeds.
    [question] = make_questions(1)
    seeds = []
    for replica in range(3):
        agent = SeedLog()
        Engine({"debater": agent, "judge": SeedLog("first")}).run(
            [("q", Debate(rounds=1, temperature=0.8, replica=replica).run(question))])
        seeds.append(tuple(r.sampling.seed for r in agent.seen))
    assert len(set(seeds)) == 3 and len(set(sum(seeds, ()))) == 6
