"""Replaying a saved transcript through its protocol: agent turns and pre-decision requests come from the
transcript, only the decision is left to the caller; and every reader of a transcripts file agrees on its lines."""

from __future__ import annotations

import json

import pytest

import protocols  # noqa: F401  (registers protocols)
from oversight.config import make_config
from oversight.engine import Engine
from oversight.errors import DataError
from oversight.experiments.rejudge import rejudge
from oversight.experiments.replay import OtherEpisode, replay_episode, variant_of
from oversight.experiments.run import episode_key, run_experiment
from oversight.models.scripted import ScriptedBackend
from oversight.registry import lookup
from oversight.rl.rollouts import agent_prompts, read_transcripts
from oversight.store import RunStore
from oversight.types import Question, Reply, Request, Transcript
from protocols.base import ProtocolOptions
from tests.helpers import CountingScripted, PromptSpy

QUESTIONS = [Question(id=f"q{i}", task="t", question=f"What is {i}+{i}?", answers=(str(2 * i), str(2 * i + 1)),
                      correct_index=0) for i in range(2)]


def saved_episodes(name: str, agent: ScriptedBackend, **options):
    """(protocol, {episode key: transcript as saved and read back}) of `name` played on both answer orders."""
    protocol = lookup("protocol", name)(ProtocolOptions(**{"rounds": 2, "seed": 1, **options}))
    questions = QUESTIONS + [q.swapped() for q in QUESTIONS]
    episodes = [(episode_key(q, variant), e) for q in questions for variant, e in protocol.episodes(q)]
    played = Engine({"judge": ScriptedBackend("echo"), "debater": agent, "consultant": agent}).run(episodes)
    return protocol, {key: Transcript.from_dict(json.loads(json.dumps(t.to_dict()))) for key, t in played.items()}


@pytest.mark.parametrize("name", ["debate", "consultancy", "open-consultancy"])
def test_same_judge_replays_the_saved_transcript_and_each_agent_turn_meets_its_prompt(name):
    spy = PromptSpy()
    protocol, saved = saved_episodes(name, spy)
    judge = CountingScripted("echo")
    seen: dict[str, list] = {key: [] for key in saved}
    replays = [(key, replay_episode(protocol, transcript, variant_of(key),
                                    on_turn=lambda speech, turn, key=key: seen[key].append((speech, turn))))
               for key, transcript in saved.items()]
    replayed = Engine({"judge": judge}).run(replays)
    # Only the decision reached a model: one choice per label order, no agent turn, no consultancy question.
    assert judge.requests == 2 * len(saved)
    for key, transcript in saved.items():
        again = replayed[key]
        assert again.turns == transcript.turns and again.decision.probs == transcript.decision.probs
        assert again.assignment == transcript.assignment
        assert again.meta.get("agent_choice") == transcript.meta.get("agent_choice")
        agent_turns = [t for t in transcript.turns if t.role != "judge"]
        assert [turn for _, turn in seen[key]] == agent_turns
        for speech, turn in seen[key]:
            assert speech.messages == spy.prompts[(turn.role, turn.raw)]  # the prompt the agent was sent
            assert speech.side == transcript.assignment[turn.role]


def test_without_a_variant_the_episode_whose_sides_match_is_replayed():
    _, saved = saved_episodes("consultancy", PromptSpy())
    protocol = lookup("protocol", "consultancy")(ProtocolOptions(rounds=2, seed=1))
    for key, transcript in saved.items():
        assert variant_of(key) == f"consultant={transcript.assignment['consultant']}"
        assert agent_prompts(protocol, transcript) == _prompts(protocol, transcript, variant_of(key))
        other = f"consultant={1 - transcript.assignment['consultant']}"
        with pytest.raises(OtherEpisode, match="another episode of the question"):
            next(replay_episode(protocol, transcript, other))


def _prompts(protocol, transcript, variant):
    found = []
    episode = replay_episode(protocol, transcript, variant, on_turn=lambda s, t: found.append((t, s.messages)))
    step = next(episode)
    assert all(request.role == "judge" and request.kind == "choice" for request in step)  # the decision
    return found


def test_requests_the_transcript_cannot_answer_name_the_fix():
    _, saved = saved_episodes("consultancy", PromptSpy())
    key, transcript = next(iter(saved.items()))
    three_rounds = lookup("protocol", "consultancy")(ProtocolOptions(rounds=3, seed=1))
    with pytest.raises(DataError, match="more turns than the transcript holds.*config.yaml"):
        next(replay_episode(three_rounds, transcript, variant_of(key)))
    debate = lookup("protocol", "debate")(ProtocolOptions(rounds=2))
    with pytest.raises(DataError, match="is not one debate plays"):
        next(replay_episode(debate, transcript, variant_of(key)))


# ----------------------------------------------------------------------------------- reading transcripts files

CUT_OFF = {
    "mid-line": b'{"key": "late", "row": {"quest',
    "mid-character": '{"key": "late", "row": {"note": "\u00e9'.encode()[:-1],
}


@pytest.mark.parametrize("cut", sorted(CUT_OFF))
def test_rejudging_and_rl_read_a_cut_off_last_line_alike(tmp_path, cut):
    config = make_config(protocol="debate", task="math", limit=2, rounds=1, order="both", backend="scripted",
                         judge="scripted:first", debater="scripted:echo", out=str(tmp_path))
    run = run_experiment(config, models={"judge": ScriptedBackend("first"), "debater": ScriptedBackend("echo")}).path
    finished = [Transcript.from_dict(r["transcript"]) for r in RunStore(run).records()]
    with open(run / "transcripts.jsonl", "ab") as fh:
        fh.write(CUT_OFF[cut])  # the run died while writing its next episode
    assert read_transcripts(run) == finished
    report = rejudge(run, "scripted:second", models={"judge": ScriptedBackend("second")})
    assert report.episodes_run == len(finished) == 4
    # The same line anywhere but last is corruption to both.
    with open(run / "transcripts.jsonl", "ab") as fh:
        fh.write(b"\n" + (run / "transcripts.jsonl").read_bytes().splitlines()[0] + b"\n")
    with pytest.raises(DataError, match="transcripts.jsonl:5 is not valid JSON"):
        read_transcripts(run)
    with pytest.raises(DataError, match="transcripts.jsonl:5 is not valid JSON"):
        rejudge(run, "scripted:correct", models={"judge": ScriptedBackend("correct")})
