"""The Protocol interface: plain sequential code for ONE question, driven by the engine.

`Protocol.run(question)` is a generator. Each `yield` hands the engine a *step*: a list of Requests
that may be answered together (both debaters of a simultaneous round). The engine sends back the
replies in the same order. The generator's return value is the finished Transcript. A protocol never
calls a model, reads a file or sleeps: all I/O lives in the engine.

Two sub-generators here are shared by every protocol with agents or a judge:

* `speak(question, speeches, round)` turns agent prompts into Turns: N candidates per speaker
  (best-of-N), format retries, the word limit, quote verification; every model call of a step is
  one batch, so a best-of-N round costs one generate call and one scoring call for all questions.
* `decide(template, ...)` asks the judge: the label probabilities after "Answer:", optionally after
  a chain of thought the judge writes first.
"""

from __future__ import annotations

import abc
import dataclasses
import math
import re
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from oversight import prompts
from oversight.panel import PanelMember, aggregate
from oversight.types import JudgeDecision, Message, Question, Reply, Request, Sampling, Transcript, Turn
from protocols.quotes import QuoteVerifier

Episode = Generator[list[Request], list[Reply], Transcript]
Steps = Generator[list[Request], list[Reply], Any]

JUDGE_OPTIONS = ("1", "2")
NO_ARGUMENT = "[no valid argument]"
"""What the judge and the other agents see in place of a turn that stayed invalid after every retry."""
BON_PLACEHOLDER = "My answer is the best choice and my opponent is wrong."
"""Khan et al. 2024: the opponent's turn of the current round while a best-of-N candidate is scored."""
_ARGUMENT = re.compile(r"<argument>(.*?)(?:</argument>|$)", re.DOTALL | re.IGNORECASE)
_THINKING = re.compile(r"<thinking>.*?(?:</thinking>|$)", re.DOTALL | re.IGNORECASE)
_ANSWER_LINE = re.compile(r"\banswer\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class ProtocolOptions:
    """Every knob a protocol reads; the runner builds it from the RunConfig."""

    rounds: int = 3
    turns: Literal["simultaneous", "sequential"] = "simultaneous"
    word_limit: int = 150
    """Words per agent turn (the study: 150); longer turns are cut."""
    word_limits: Mapping[str, int] = field(default_factory=dict)
    """Per role family (`debater`, `consultant`, `judge` for judge questions), overriding `word_limit`."""
    max_tokens: int = 256
    temperature: float = 0.0
    seed: int | None = None
    best_of_n: int = 1
    """Candidates sampled per agent turn; the best-scored one is kept (Khan et al. 2024)."""
    bon_scorer: Literal["judge", "self"] = "judge"
    """Who scores candidates: the judge model's P(agent's answer), or the agent model picking one."""
    retries: int = 2
    """Extra attempts for a turn that breaks the format (no argument); then it is recorded invalid."""
    retry_temperature: float = 0.7
    """Sampling temperature of retries when the run is greedy (a greedy retry would repeat itself)."""
    judge_cot: bool = False
    """The judge writes its reasoning before the decision (the study found it did not help)."""
    judge_cot_tokens: int = 256
    judge_temperature: float = 0.0
    """Sampling temperature of the judge's reasoning (`judge_cot`); > 0 lets panel members differ by seed."""
    panel: tuple[PanelMember, ...] = ()
    """Judge panel members (oversight/panel.py); empty: one judge, role `judge`."""
    panel_aggregate: str = "mean"
    """How a panel's member decisions combine: `majority`, `mean` or `logmean`."""
    quotes: bool = True
    """Verify `<quote>`s against the article on tasks with one."""

    def limit_for(self, role: str) -> int:
        return self.word_limits.get(role.split("_")[0], self.word_limit)


@dataclass(frozen=True)
class Speech:
    """One agent turn to produce: who speaks, its prompt, and (for best-of-N) how to score a candidate."""

    role: str
    messages: tuple[Message, ...]
    side: int
    """Index of the answer the speaker argues."""
    score: Callable[[Turn], Request] | None = None
    """The judge request for the transcript with this candidate in place (judge-scored best-of-N)."""


class Protocol(abc.ABC):
    """Base class; subclasses register with `@register("protocol", NAME)`."""

    name: str
    roles: tuple[str, ...]
    """Roles this protocol makes requests for, judge included."""

    def __init__(self, options: ProtocolOptions | None = None, **overrides: Any) -> None:
        self.options = dataclasses.replace(options or ProtocolOptions(), **overrides)
        self.rounds = self.options.rounds
        self.turns = self.options.turns
        self.word_limit = self.options.word_limit
        self.agent_sampling = Sampling(max_tokens=self.options.max_tokens, temperature=self.options.temperature,
                                       seed=self.options.seed)

    @abc.abstractmethod
    def run(self, question: Question) -> Episode:
        """Play one episode of this protocol on `question`."""

    def episodes(self, question: Question) -> list[tuple[str, Episode]]:
        """The episodes one question yields, each with a key suffix (consultancy: one per assignment)."""
        return [("", self.run(question))]

    def columns(self, transcript: Transcript) -> dict[str, Any]:
        """Protocol-specific columns of the results table (added to the shared ones)."""
        return {}

    def render(self, template: str, question: Question, **variables: object) -> tuple[Message, ...]:
        """A prompt about `question`, with its images (multimodal tasks) on the first user message."""
        return prompts.attach_images(prompts.render(template, question=question, **variables), question.images)

    # ----------------------------------------------------------------------------------- judge

    def judge_request(self, template: str, question: Question, role: str = "judge", **variables: object) -> Request:
        messages = self.render(template, question, cot=False, **variables)
        return Request(role=role, messages=messages, kind="choice", options=JUDGE_OPTIONS,
                       sampling=Sampling(max_tokens=1))

    def decide(self, template: str, question: Question, **variables: object) -> Steps:
        """The judge's decision, and the judge's reasoning Turns (none unless `judge_cot` is on).

        With chain of thought the judge first generates from the same prompt (asked to reason, then
        answer); its reasoning up to any "Answer:" it wrote goes into the assistant message, and the
        decision is read from the label probabilities after a fresh "Answer:". A panel asks every member
        in the same step (each with its own template and seed) and aggregates their decisions.
        """
        panel = self.options.panel
        members = panel or (PanelMember("judge"),)
        if not self.options.judge_cot:
            replies = yield [self.judge_request(m.template or template, question, role=m.role, **variables)
                             for m in members]
            decisions, reasoning = [decision_from(r) for r in replies], ()
        else:
            asks = []
            for m in members:
                messages = self.render(m.template or template, question, cot=True, **variables)
                asks.append(messages[:-1] if messages[-1].role == "assistant" else messages)
            thoughts = yield [Request(role=m.role, messages=prompt, sampling=self._reasoning_sampling(m))
                              for m, prompt in zip(members, asks)]
            texts = [_ANSWER_LINE.split(t.text, maxsplit=1)[0].strip() for t in thoughts]
            replies = yield [
                Request(role=m.role, kind="choice", options=JUDGE_OPTIONS, sampling=Sampling(max_tokens=1),
                        messages=(*prompt, Message("assistant", prompts.inert(f"{text}\n\nAnswer:".lstrip()))))
                for m, prompt, text in zip(members, asks, texts)]
            decisions = [decision_from(r) for r in replies]
            reasoning = tuple(
                Turn("judge", self.rounds, text, raw=t.text, meta={"kind": "reasoning", **({"member": i} if panel else {})})
                for i, (text, t) in enumerate(zip(texts, thoughts)))
        decision = aggregate(decisions, self.options.panel_aggregate) if panel else decisions[0]
        return decision, reasoning

    def _reasoning_sampling(self, member: PanelMember) -> Sampling:
        seed = self.options.seed if not member.seed else (self.options.seed or 0) + member.seed
        return Sampling(max_tokens=self.options.judge_cot_tokens, temperature=self.options.judge_temperature, seed=seed)

    # ----------------------------------------------------------------------------------- agents

    def speak(self, question: Question, speeches: list[Speech], round_: int) -> Steps:
        """Turns for `speeches` (spoken at once): candidates, retries, best-of-N choice, quotes."""
        opts = self.options
        n = opts.best_of_n
        verifier = QuoteVerifier(question.context) if opts.quotes and question.context else None
        slots = [(s, i) for s in range(len(speeches)) for i in range(n)]
        raws: dict[tuple[int, int], str] = {}
        attempts: dict[tuple[int, int], int] = {}
        pending = slots
        for attempt in range(opts.retries + 1):
            replies = yield [self._agent_request(speeches[s], i, attempt) for s, i in pending]
            for slot, reply in zip(pending, replies):
                raws[slot], attempts[slot] = reply.text, attempt + 1
            pending = [slot for slot in pending if not _has_argument(raws[slot])]
            if not pending:
                break
        valid = {slot for slot in slots if _has_argument(raws[slot])}

        def as_turn(s: int, i: int) -> Turn:
            speech = speeches[s]
            text = public_argument(raws[(s, i)], opts.limit_for(speech.role))
            meta: dict[str, Any] = {"attempts": attempts[(s, i)]}
            if verifier is not None:
                check = verifier.check(text)
                text, meta["quotes"], meta["verified_quotes"] = check.text, check.quotes, check.verified
            return Turn(speech.role, round_, text, raw=raws[(s, i)], meta=meta)

        scores: dict[tuple[int, int], float] = {}
        if n > 1 and valid:
            scores = yield from self._score(question, speeches, sorted(valid), as_turn)
        turns = []
        for s, speech in enumerate(speeches):
            mine = [(s, i) for i in range(n)]
            good = [slot for slot in mine if slot in valid]
            if not good:
                last = mine[0]
                turns.append(Turn(speech.role, round_, NO_ARGUMENT, raw=raws[last],
                                  meta={"invalid": True, "attempts": attempts[last]}))
                continue
            best = max(good, key=lambda slot: scores.get(slot, 0.0))  # ties: the first candidate
            turn = as_turn(*best)
            if n > 1:
                turn = dataclasses.replace(turn, meta={
                    **turn.meta, "chosen": best[1],
                    "candidates": [{"raw": raws[slot], "score": scores.get(slot), "valid": slot in valid}
                                   for slot in mine]})
            turns.append(turn)
        return turns

    def _agent_request(self, speech: Speech, candidate: int, attempt: int) -> Request:
        """Candidate `candidate`, try `attempt`: distinct seeds so samples differ, greedy when asked."""
        base = self.agent_sampling
        n = self.options.best_of_n
        temperature = base.temperature
        if attempt and temperature == 0:
            temperature = self.options.retry_temperature
        seed = base.seed
        if n > 1 or attempt:
            seed = (base.seed or 0) + candidate + 1000 * attempt
        return Request(role=speech.role, messages=speech.messages,
                       sampling=dataclasses.replace(base, temperature=temperature, seed=seed))

    def _score(self, question: Question, speeches: list[Speech], valid: list[tuple[int, int]],
               as_turn: Callable[[int, int], Turn]) -> Steps:
        """Scores of the valid candidates: judge P(speaker's answer), or the agent's own pick."""
        if self.options.bon_scorer == "judge":
            requests = []
            for s, i in valid:
                if speeches[s].score is None:
                    raise ValueError(f"protocol {self.name!r} gave no scoring request for {speeches[s].role}")
                requests.append(speeches[s].score(as_turn(s, i)))
            replies = yield requests
            return {slot: decision_from(reply).probs[speeches[slot[0]].side] for slot, reply in zip(valid, replies)}
        by_speech: dict[int, list[int]] = {}
        for s, i in valid:
            by_speech.setdefault(s, []).append(i)
        asks = [(s, ids) for s, ids in by_speech.items() if len(ids) > 1]
        scores = {(s, ids[0]): 1.0 for s, ids in by_speech.items() if len(ids) == 1}
        requests = []
        for s, ids in asks:
            labels = tuple(str(k + 1) for k in range(len(ids)))
            messages = prompts.attach_images(
                prompts.render("best_of_n/select", prompt=speeches[s].messages[-1].content,
                               candidates=[as_turn(s, i).text for i in ids]), question.images)
            requests.append(Request(role=speeches[s].role, messages=messages, kind="choice", options=labels,
                                    sampling=Sampling(max_tokens=1)))
        replies = (yield requests) if requests else []
        for (s, ids), reply in zip(asks, replies):
            for i, p in zip(ids, reply.option_probs):
                scores[(s, i)] = p
        return scores


def _has_argument(raw: str) -> bool:
    return bool(public_argument(raw))


def decision_from(reply: Reply) -> JudgeDecision:
    """Turn a choice reply into a verdict.

    Invalid: missing or non-finite probabilities, an exact tie (never broken toward a position), or a
    judge whose single most likely next token starts neither label (`Reply.top_is_option` False,
    when the backend reports it); the probabilities are kept for analysis.
    """
    probs = reply.option_probs
    if len(probs) != 2 or not all(math.isfinite(p) for p in probs) or sum(probs) <= 0:
        return JudgeDecision(probs=(math.nan, math.nan), verdict=None, invalid=True, mass=reply.option_mass)
    total = sum(probs)
    p1, p2 = probs[0] / total, probs[1] / total
    if p1 == p2 or reply.top_is_option is False:
        return JudgeDecision(probs=(p1, p2), verdict=None, invalid=True, mass=reply.option_mass)
    return JudgeDecision(probs=(p1, p2), verdict=0 if p1 > p2 else 1, mass=reply.option_mass)


def public_argument(raw: str, word_limit: int | None = None) -> str:
    """The part of an agent's output the judge may see: the <argument> body, never <thinking>.

    Arguments over `word_limit` words are cut there (the study's limit is 150), so a rambling agent
    cannot crowd the judge's context.
    """
    match = _ARGUMENT.search(raw)
    text = match.group(1).strip() if match else _THINKING.sub("", raw).strip()
    words = re.findall(r"\S+\s*", text)
    if word_limit is not None and len(words) > word_limit:
        text = "".join(words[:word_limit]).rstrip() + " ..."
    return text


def turn_columns(transcript: Transcript) -> dict[str, Any]:
    """Columns every protocol with agents shares: invalid turns, quote counts."""
    agent_turns = [t for t in transcript.turns if t.meta.get("kind") != "reasoning" and t.role != "judge"]
    quotes = sum(t.meta.get("quotes", 0) for t in agent_turns)
    verified = sum(t.meta.get("verified_quotes", 0) for t in agent_turns)
    return {"agent_turns": len(agent_turns), "invalid_turns": sum(bool(t.meta.get("invalid")) for t in agent_turns),
            "quotes": quotes, "verified_quotes": verified}
