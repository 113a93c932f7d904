"""Rollouts from transcripts: each agent turn becomes (prompt ids, completion ids, behaviour log-probs, reward, group).

A transcript stores what the agents said, not the prompts they were given. `agent_prompts` rebuilds them by
*replaying* the protocol (`oversight.experiments.replay`): the protocol's generator for the transcript's episode
is driven with the saved turns as its agents' turns (the consultancy judge's questions and an open protocol's
agent choice from the transcript too), and the Speech of each agent turn holds the exact prompt of that turn.
The replay stops at the judge's decision, which comes after every agent turn. A protocol that asks for something
the transcript cannot answer raises one DataError naming the episode.

Token ids: the prompt is `encode_prompt(tokenizer, messages)`, as the hf and vllm backends feed it. The
completion is the sampled token ids with their behaviour log-probs when the generation was recorded
(`GenerationLog`, filled by `RecordingBackend` during `oversight train`), else the raw text re-tokenised
plus the end-of-sequence token, with `logprobs=None` (a trainer then treats the data as on-policy).

Rewards (`REWARDS`) for the agent that argued answer `side` (`Transcript.assignment[role]`):

* `judge_prob`: the judge's probability of that answer, `decision.probs[side]` (0 for an invalid decision);
* `judge_logprob`: its log (floored at log 1e-6);
* `correct`: 1 when the judge's verdict is the correct answer, else 0 (task correctness of the episode);
* `judge_prob+correct`: the sum of the two.

Groups: rollouts of the same question, the same answer argued (by text, so both answer orders meet) and the
same round share a group id; GRPO/RLOO advantages compare the rollouts of one group.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from oversight.errors import DataError
from oversight.experiments.replay import replay_episode
from oversight.models.base import Backend
from oversight.models.choice import encode_prompt
from oversight.store import TRANSCRIPTS, read_records
from oversight.types import Message, Reply, Request, Transcript, Turn
from protocols.base import Protocol

REWARDS: tuple[str, ...] = ("judge_prob", "judge_logprob", "correct", "judge_prob+correct")
_LOG_FLOOR = math.log(1e-6)


@dataclass
class Rollout:
    """One agent turn as RL data."""

    prompt_ids: list[int]
    completion_ids: list[int]
    logprobs: list[float] | None
    """Behaviour log-prob of each completion token (the policy that sampled it); None when not recorded."""
    reward: float
    group: str
    messages: list[dict[str, str]] = field(default_factory=list)
    """The prompt as chat messages (for exports)."""
    completion: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    """question_id, role, round, side, correct_side, question (text, answers, correct_index)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class GenerationLog:
    """Sampled token ids and log-probs of generate calls, keyed by (prompt messages, text)."""

    def __init__(self) -> None:
        self._calls: dict[tuple[tuple[Message, ...], str], tuple[list[int], list[float]]] = {}

    def add(self, request: Request, reply: Reply) -> None:
        if reply.token_ids and len(reply.logprobs) == len(reply.token_ids):
            self._calls[(request.messages, reply.text)] = (list(reply.token_ids), list(reply.logprobs))

    def get(self, messages: tuple[Message, ...], text: str) -> tuple[list[int], list[float]] | None:
        return self._calls.get((messages, text))

    def clear(self) -> None:
        self._calls.clear()


class RecordingBackend(Backend):
    """Wraps a backend and records every generation it returns into a GenerationLog."""

    def __init__(self, inner: Backend, log: GenerationLog) -> None:
        super().__init__(inner.model)
        self.inner, self.log, self.name = inner, log, inner.name

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        replies = self.inner.generate(requests)
        for request, reply in zip(requests, replies):
            self.log.add(request, reply)
        return replies

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        return self.inner.choice(requests)

    def close(self) -> None:
        self.inner.close()


def agent_prompts(protocol: Protocol, transcript: Transcript) -> list[tuple[Turn, tuple[Message, ...]]]:
    """(turn, the prompt it answered) for every agent turn, rebuilt by replaying the protocol (module docstring)."""
    found: list[tuple[Turn, tuple[Message, ...]]] = []
    episode = replay_episode(protocol, transcript, on_turn=lambda speech, turn: found.append((turn, speech.messages)))
    try:
        next(episode)  # the first step the transcript does not answer is the decision: every agent turn came before
    except StopIteration:
        pass
    episode.close()
    return found


def episode_reward(kind: str, transcript: Transcript, side: int) -> float:
    """The reward `kind` (REWARDS) of the agent that argued answer `side` in `transcript`."""
    p = transcript.decision.probs[side]
    p = 0.0 if p is None or not math.isfinite(p) else float(p)
    correct = float(transcript.correct)
    if kind == "judge_prob":
        return p
    if kind == "judge_logprob":
        return max(math.log(p), _LOG_FLOOR) if p > 0 else _LOG_FLOOR
    if kind == "correct":
        return correct
    return p + correct


def build_rollouts(transcripts: Iterable[Transcript], protocol: Protocol, tokenizer: Any, *,
                   reward: str = "judge_prob", log: GenerationLog | None = None,
                   roles: Sequence[str] | None = None) -> list[Rollout]:
    """Rollouts of the agent turns of `transcripts` (optionally only `roles`), rewarded by `reward` (REWARDS)."""
    if reward not in REWARDS:
        raise DataError(f"unknown reward {reward!r}; rewards: {', '.join(REWARDS)}")
    eos = tokenizer.eos_token_id
    out = []
    for transcript in transcripts:
        for turn, messages in agent_prompts(protocol, transcript):
            if roles is not None and turn.role not in roles:
                continue
            if turn.role not in transcript.assignment or turn.meta.get("invalid"):
                continue  # an open protocol's free choice, or a turn the judge never saw
            side = transcript.assignment[turn.role]
            recorded = log.get(messages, turn.raw) if log is not None else None
            if recorded is not None:
                completion_ids, logprobs = recorded
            else:
                completion_ids = list(tokenizer.encode(turn.raw, add_special_tokens=False)) + [eos]
                logprobs = None
            q = transcript.question
            out.append(Rollout(
                prompt_ids=encode_prompt(tokenizer, messages), completion_ids=completion_ids, logprobs=logprobs,
                reward=episode_reward(reward, transcript, side),
                group=f"{q.id}|{q.answers[side]}|round {turn.round}",
                messages=[m.to_dict() for m in messages], completion=turn.raw,
                meta={"question_id": q.id, "role": turn.role, "round": turn.round, "side": side,
                      "correct_side": side == q.correct_index,
                      "question": {"question": q.question, "answers": list(q.answers),
                                   "correct_index": q.correct_index}}))
    return out


def read_transcripts(path: str | Path) -> list[Transcript]:
    """Transcripts of `runs/<run>/transcripts.jsonl` (or of a run folder), read as the run store reads them: a last
    line cut off by a crash is skipped (`read_records`)."""
    path = Path(path)
    file = path / TRANSCRIPTS if path.is_dir() else path
    out = []
    try:
        for number, record in read_records(file):
            try:
                out.append(Transcript.from_dict(record["transcript"]))
            except (KeyError, TypeError) as e:
                raise DataError(f"{file}:{number} is not a transcript line ({type(e).__name__}: {e}); each line is "
                                'a JSON object with a "transcript" key, as `oversight run` writes them') from None
    except OSError as e:
        raise DataError(f"transcripts file {str(file)!r} cannot be read ({e.strerror or e}); pass a run folder "
                        "or its transcripts.jsonl") from None
    return out


def group_indices(rollouts: Sequence[Rollout]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rollouts):
        groups.setdefault(r.group, []).append(i)
    return groups

