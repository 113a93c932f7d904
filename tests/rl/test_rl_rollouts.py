"""Transcripts -> rollouts: prompts rebuilt by replaying the protocol, recorded tokens, rewards and groups."""

from __future__ import annotations

import json
import math

import pytest

from oversight.engine import Engine
from oversight.errors import DataError
from oversight.models.choice import encode_prompt
from oversight.models.scripted import ScriptedBackend
from oversight.registry import lookup
from oversight.rl.rollouts import GenerationLog, RecordingBackend, build_rollouts, read_transcripts
from oversight.types import Question, Reply, Request
from protocols.base import ProtocolOptions

from tests.helpers import PromptSpy


class LoggedScripted(ScriptedBackend):
    """The scripted backend with a behaviour log-prob per token, as the hf and vllm backends give them."""

    def generate(self, requests):
        return [Reply(text=r.text, token_ids=r.token_ids, logprobs=tuple(-0.1 * (k + 1) for k in range(len(r.token_ids))))
                for r in super().generate(requests)]


class Tok:
    """A character tokenizer with a chat template, enough for encode_prompt."""

    eos_token_id = 0
    chat_template = "x"
    name_or_path = "chars"

    def apply_chat_template(self, messages, tokenize, add_generation_prompt, continue_final_message):
        text = "".join(f"<{m['role']}>{m['content']}" for m in messages)
        return text + ("<assistant>" if add_generation_prompt else "")

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [ord(ch) for ch in text]


QUESTIONS = [Question(id=f"q{i}", task="t", question=f"What is {i}+{i}?", answers=(str(2 * i), str(2 * i + 1)),
                      correct_index=0) for i in range(3)]


def play(protocol_name: str, judge: ScriptedBackend, agent: ScriptedBackend, rounds: int = 2):
    protocol = lookup("protocol", protocol_name)(ProtocolOptions(rounds=rounds, temperature=0.7, seed=1))
    qs = QUESTIONS + [q.swapped() for q in QUESTIONS]
    episodes = [(f"{q.id}{q.meta.get('swapped', False)}{v}", e) for q in qs for v, e in protocol.episodes(q)]
    return protocol, list(Engine({"judge": judge, protocol.roles[0].split("_")[0]: agent}).run(episodes).values())


@pytest.mark.parametrize("protocol_name", ["debate", "consultancy"])
def test_replayed_prompts_are_the_prompts_the_agents_got(protocol_name: str) -> None:
    spy = PromptSpy()
    protocol, transcripts = play(protocol_name, ScriptedBackend("echo"), spy)
    rollouts = build_rollouts(transcripts, protocol, Tok())
    agent_turns = [t for tr in transcripts for t in tr.turns if t.role != "judge"]
    assert len(rollouts) == len(agent_turns) > 0
    for r in rollouts:
        sent = spy.prompts[(r.meta["role"], r.completion)]
        assert r.prompt_ids == encode_prompt(Tok(), sent)
        assert r.completion_ids == [ord(ch) for ch in r.completion] + [0] and r.logprobs is None
    # later rounds see earlier turns: their prompts are longer than the first round's
    first = [r for r in rollouts if r.meta["round"] == 0]
    later = [r for r in rollouts if r.meta["round"] == 1]
    assert later and min(len(r.prompt_ids) for r in later) > max(len(r.prompt_ids) for r in first)


def test_rewards_sides_and_groups() -> None:
    protocol, transcripts = play("debate", ScriptedBackend("echo"), ScriptedBackend("echo"), rounds=1)
    rollouts = build_rollouts(transcripts, protocol, Tok(), reward="judge_prob")
    logs = build_rollouts(transcripts, protocol, Tok(), reward="judge_logprob")
    both = build_rollouts(transcripts, protocol, Tok(), reward="judge_prob+correct")
    for r, lr, br in zip(rollouts, logs, both):
        assert 0 < r.reward < 1 and lr.reward == pytest.approx(math.log(r.reward))
        assert round(br.reward - r.reward, 9) in (0.0, 1.0)
    # a group: same question, same answer argued (both answer orders), same round -> 2 rollouts, one per order
    groups: dict[str, list] = {}
    for r in rollouts:
        groups.setdefault(r.group, []).append(r)
    assert len(groups) == len(QUESTIONS) * 2
    for members in groups.values():
        assert len(members) == 2 and {m.meta["role"] for m in members} == {"debater_a", "debater_b"}
        assert len({m.meta["question_id"] for m in members}) == 1


def test_recorded_generations_keep_their_tokens_and_behaviour_logprobs() -> None:
    log = GenerationLog()
    protocol, transcripts = play("debate", ScriptedBackend("echo"), RecordingBackend(LoggedScripted(), log), rounds=1)
    rollouts = build_rollouts(transcripts, protocol, Tok(), log=log, roles=("debater_a",))
    assert rollouts and all(r.meta["role"] == "debater_a" for r in rollouts)
    for r in rollouts:
        n = len(r.completion.split())
        assert r.completion_ids == list(range(n)) and r.logprobs == pytest.approx([-0.1 * (k + 1) for k in range(n)])


def test_transcripts_file_round_trip_and_bad_lines(tmp_path) -> None:
    protocol, transcripts = play("debate", ScriptedBackend("echo"), ScriptedBackend("echo"), rounds=1)
    run = tmp_path / "run"
    run.mkdir()
    lines = [json.dumps({"key": str(k), "transcript": t.to_dict()}) for k, t in enumerate(transcripts)]
    (run / "transcripts.jsonl").write_text("\n".join(lines) + "\n")
    again = build_rollouts(read_transcripts(run), protocol, Tok())
    assert [r.reward for r in again] == [r.reward for r in build_rollouts(transcripts, protocol, Tok())]
    (run / "transcripts.jsonl").write_text('{"key": "x"}\n' + lines[0] + "\n")
    with pytest.raises(DataError, match=r"transcripts.jsonl:1 .*\"transcript\" key"):
        read_transcripts(run)
    with pytest.raises(DataError, match="cannot be read"):
        read_transcripts(tmp_path / "missing")


def test_replay_with_other_protocol_options_names_the_fix() -> None:
    protocol, transcripts = play("debate", ScriptedBackend("echo"), ScriptedBackend("echo"), rounds=1)
    three_rounds = lookup("protocol", "debate")(ProtocolOptions(rounds=3))
    with pytest.raises(DataError, match="more turns than the transcript holds.*config.yaml"):
        build_rollouts(transcripts, three_rounds, Tok())
    with pytest.raises(DataError, match="unknown reward"):
        build_rollouts(transcripts, protocol, Tok(), reward="elo")
