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
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from oversight import prompts
from protocols.panel import PanelMember, aggregate
from oversight.types import (Episode, JudgeDecision, Message, Question, Reply, Request, Sampling, Steps,
                             Transcript, Turn)
from protocols.quotes import QuoteMatch, QuoteVerifier, strip_reserved


JUDGE_OPTIONS = ("1", "2")
JUDGE_QUESTION_TOKENS = 64
"""Token budget of a judge's question between rounds."""
NO_ARGUMENT = "[no valid argument]"
"""What the judge and the other agents see in place of a turn that stayed invalid after every retry."""
BON_PLACEHOLDER = "My answer is the best choice and my opponent is wrong."
"""Khan et al. 2024: the opponent's turn of the current round while a best-of-N candidate is scored."""
ARGUMENT_END = "</argument>"
"""Stop sequence of every agent turn: nothing after the argument reaches the judge, so it is not generated."""
_ARGUMENT = re.compile(r"<argument>(.*?)(?:</argument>|$)", re.DOTALL | re.IGNORECASE)
_THINKING = re.compile(r"<thinking>.*?(?:</thinking>|$)", re.DOTALL | re.IGNORECASE)
_OPENED = "\n\n<argument>"
"""How a forced argument starts, after the closed thinking."""
_REOPENED = re.compile(r"^\s*<argument>", re.IGNORECASE)
"""A continuation that opens the argument again (the prompt already did)."""
_OPEN_THINKING = re.compile(r"<thinking>(?!.*</thinking>)", re.DOTALL | re.IGNORECASE)
_PROB_FLOOR = 1e-6
"""Order-debiased decisions clip probabilities here before the log-odds, so one order's certainty cannot veto."""


def request_seed(run_seed: int | None, *identity: object) -> int:
    """The sampling seed of one request: a stable hash of the run seed and the request's identity (question,
    answer order, role, side, round, candidate, attempt...), in [0, 2**31). Distinct requests get distinct
    streams; the same request gets the same seed on resume and on every backend."""
    payload = json.dumps([run_seed or 0, *identity], default=str, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(payload.encode()).digest()[:4], "big") >> 1
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
    """Token budget of an agent turn, all its requests together (thinking, argument, a continuation)."""
    thinking_tokens: int | None = None
    """The part of `max_tokens` a turn may spend before its argument must begin: a reply still thinking there is
    closed and its argument opened (budget forcing, Muennighoff et al. 2025). None: half of `max_tokens`."""
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
    """Judge panel members (protocols/panel.py); empty: one judge, role `judge`."""
    panel_aggregate: str = "mean"
    """How a panel's member decisions combine: `majority`, `mean` or `logmean`."""
    quotes: bool = True
    """Verify `<quote>`s against the article on tasks with one."""
    quote_match: QuoteMatch = "strict"
    """How a quote must match the article: `strict` (normalised, exact) or `fuzzy` (see protocols/quotes.py)."""
    replica: int = 0
    """Which of several independent plays of the same episodes this protocol makes (RL samples a group of plays
    per question): part of every sampled request's identity, so replicas draw different samples."""
    judge_questions: bool = False
    """Interactive debate (Khan et al. 2024): the judge asks the debaters a question between rounds (consultancy's
    judge always does)."""
    debias: bool = True
    """Order-debiased judging: the judge decides each transcript with the answer labels in both orders and the
    decision averages the two log-odds (position bias cancels); off: one decision in the presented order."""

    def limit_for(self, role: str) -> int:
        return self.word_limits.get(role.split("_")[0], self.word_limit)

    @property
    def opening_tokens(self) -> int:
        """`max_tokens` of a turn's first request: the thinking budget."""
        budget = self.thinking_tokens if self.thinking_tokens is not None else max(1, self.max_tokens // 2)
        return min(budget, self.max_tokens)


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

    def ask_judge(self, template: str, question: Question, round_: int, **variables: Any) -> Steps:
        """The judge's question after round `round_` (consultancy; interactive debate): one greedy judge generation,
        kept as its public text with the harness's quote tags removed, since it may echo an agent's forged ones."""
        sampling = Sampling(max_tokens=JUDGE_QUESTION_TOKENS)
        [asked] = yield [Request(role="judge", messages=self.render(template, question, **variables), sampling=sampling)]
        text = strip_reserved(public_argument(asked.text, self.options.limit_for("judge")))
        return Turn("judge", round_, text, raw=asked.text)

    def judge_request(self, template: str, question: Question, role: str = "judge", **variables: object) -> Request:
        messages = self.render(template, question, cot=False, **variables)
        return Request(role=role, messages=messages, kind="choice", options=JUDGE_OPTIONS,
                       sampling=Sampling(max_tokens=1))

    def swap_view(self, variables: dict[str, Any]) -> dict[str, Any]:
        """The judge template's variables for the answers shown in the other order (`Question.swapped`): every
        variable that names an answer by its label changes with it. Protocols whose judge sees agents' sides
        override it."""
        return variables

    def decide(self, template: str, question: Question, variant: str = "", **variables: Any) -> Steps:
        """The judge's decision, and the judge's reasoning Turns (none unless `judge_cot` is on).

        With chain of thought the judge first generates from the same prompt (asked to reason, then
        answer); its reasoning up to any "Answer:" it wrote goes into the assistant message, and the
        decision is read from the label probabilities after a fresh "Answer:". A panel asks every member
        in the same step (each with its own template and seed) and aggregates their decisions.

        Order-debiased (`debias`, the default): every member also decides the same transcript with the two
        answers' labels swapped, in the same step, and its decision averages the two orders' log-odds
        (`debiased_decision`), so a judge that favours a position gains nothing from it. `variant` names the
        episode among the question's episodes (consultancy: the assigned side), for the requests' seeds.
        """
        panel = self.options.panel
        members = panel or (PanelMember("judge"),)
        views = [(question, dict(variables))]
        if self.options.debias:
            views.append((question.swapped(), self.swap_view(dict(variables))))
        asks = [(m, order, q, v) for m in members for order, (q, v) in enumerate(views)]
        reasoning: tuple[Turn, ...] = ()
        if not self.options.judge_cot:
            replies = yield [self.judge_request(m.template or template, q, role=m.role, **v) for m, _, q, v in asks]
        else:
            prompts_ = []
            for m, _, q, v in asks:
                messages = self.render(m.template or template, q, cot=True, **v)
                prompts_.append(messages[:-1] if messages[-1].role == "assistant" else messages)
            thoughts = yield [Request(role=m.role, messages=prompt,
                                      sampling=self._reasoning_sampling(m, question, variant, order))
                              for (m, order, _, _), prompt in zip(asks, prompts_)]
            texts = [_ANSWER_LINE.split(t.text, maxsplit=1)[0].strip() for t in thoughts]
            replies = yield [
                Request(role=m.role, kind="choice", options=JUDGE_OPTIONS, sampling=Sampling(max_tokens=1),
                        messages=(*prompt, Message("assistant", prompts.inert(f"{text}\n\nAnswer:".lstrip()))))
                for (m, _, _, _), prompt, text in zip(asks, prompts_, texts)]
            reasoning = tuple(
                Turn("judge", self.rounds, text, raw=t.text, meta={
                    "kind": "reasoning", **({"member": members.index(m)} if panel else {}),
                    **({"labels": "swapped"} if order else {})})
                for (m, order, _, _), text, t in zip(asks, texts, thoughts))
        decisions = [decision_from(r) for r in replies]
        if self.options.debias:
            decisions = [debiased_decision(decisions[i], decisions[i + 1]) for i in range(0, len(decisions), 2)]
        decision = aggregate(decisions, self.options.panel_aggregate) if panel else decisions[0]
        return decision, reasoning

    def _reasoning_sampling(self, member: PanelMember, question: Question, variant: str, order: int) -> Sampling:
        temperature = self.options.judge_temperature
        seed = (request_seed(self.options.seed, "judge_reasoning", question.id, bool(question.meta.get("swapped")),
                             variant, member.role, member.seed, order, *self._replica()) if temperature > 0 else None)
        return Sampling(max_tokens=self.options.judge_cot_tokens, temperature=temperature, seed=seed)

    # ----------------------------------------------------------------------------------- agents

    def speak(self, question: Question, speeches: list[Speech], round_: int) -> Steps:
        """Turns for `speeches` (spoken at once): candidates, budgets, retries, best-of-N choice, quotes.

        A turn spends at most `max_tokens` generated tokens, all its requests (retries included) together. Its
        first request may use `opening_tokens` of them (the thinking budget) and stops at `</argument>`. A reply that is unfinished then is finished by one continuation,
        with the rest of the budget, in one batch for all speakers:
        - still inside `<thinking>` (the budget ran out, or it stopped there), or thought and wrote no
          argument: its thinking is closed and an `<argument>` opened, so only the argument is generated
          (budget forcing, Muennighoff et al. 2025; recorded as `forced`);
        - cut by the budget inside its argument (or untagged text) before the word limit: continued as it stands.
        A reply that ended by itself is finished only when `retries` allows a second request. A reply is usable
        when it has public text: its `<argument>` (format followed), or else its text with any thinking removed
        (accepted leniently, `format: lenient`). A turn still without usable text is sampled again from
        scratch within what is left of its budget, up to `retries` times, and is then recorded invalid.
        """
        opts = self.options
        n = opts.best_of_n
        verifier = QuoteVerifier(question.context, opts.quote_match) if opts.quotes and question.context else None
        slots = [(s, i) for s in range(len(speeches)) for i in range(n)]
        raws: dict[tuple[int, int], str] = {}
        attempts: dict[tuple[int, int], int] = {}
        finished_how: dict[tuple[int, int], str] = {}  # slot -> "continued" / "forced", when a continuation ended it
        spent = dict.fromkeys(slots, 0)  # generated tokens per slot, every request of the turn counted
        pending = slots
        for attempt in range(opts.retries + 1):
            opening = [self._agent_request(question, speeches[s], round_, i, attempt,
                                           min(opts.opening_tokens, opts.max_tokens - spent[(s, i)]))
                       for s, i in pending]
            replies = yield opening
            unfinished = []
            for slot, request, reply in zip(pending, opening, replies):
                raws[slot], attempts[slot] = reply.text, attempt + 1
                finished_how.pop(slot, None)
                cut = _ran_out(reply, request)
                spent[slot] += _spent(reply, request)
                left = opts.max_tokens - spent[slot]
                todo = _unfinished(reply.text, cut, opts.limit_for(speeches[slot[0]].role))
                if todo is not None and left > 0 and (cut or opts.retries):
                    unfinished.append((slot, request, *todo, left))
            if unfinished:
                requests = [self._continuation(request, prefix, left) for _, request, prefix, _, left in unfinished]
                replies = yield requests
                for (slot, *_, forced, _), request, reply in zip(unfinished, requests, replies):
                    spent[slot] += _spent(reply, request)
                    text = _REOPENED.sub("", reply.text, count=1) if forced else reply.text
                    raws[slot] = request.messages[-1].content + text
                    finished_how[slot] = "forced" if forced else "continued"
            # a turn with no usable text is sampled again while its budget lasts
            pending = [slot for slot in pending if not _has_argument(raws[slot]) and spent[slot] < opts.max_tokens]
            if not pending:
                break
        valid = {slot for slot in slots if _has_argument(raws[slot])}

        def as_turn(s: int, i: int) -> Turn:
            speech = speeches[s]
            text = public_argument(raws[(s, i)], opts.limit_for(speech.role))
            meta: dict[str, Any] = {"attempts": attempts[(s, i)], "format": argument_format(raws[(s, i)])}
            if (s, i) in finished_how:
                meta["continued"] = True
                if finished_how[(s, i)] == "forced":
                    meta["forced"] = True
            if verifier is not None:
                check = verifier.check(text)
                text, meta["quotes"], meta["verified_quotes"] = check.text, check.quotes, check.verified
                meta["quote_scores"] = list(check.scores)
            else:  # nothing is checked, so no text may look checked
                text = strip_reserved(text)
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

    def _replica(self) -> tuple[int, ...]:
        """The replica's part of a request's identity (none for the first, so its seeds do not depend on it)."""
        return (self.options.replica,) if self.options.replica else ()

    def _agent_request(self, question: Question, speech: Speech, round_: int, candidate: int,
                       attempt: int, max_tokens: int) -> Request:
        """The first request of candidate `candidate`, try `attempt` of a turn (at most `max_tokens`).
        Sampled requests carry their own seed (`request_seed`); a greedy run's retry samples at
        `retry_temperature` (greedy would repeat itself)."""
        opts = self.options
        temperature = opts.retry_temperature if attempt and opts.temperature == 0 else opts.temperature
        seed = None
        if temperature > 0:
            seed = request_seed(opts.seed, "turn", question.id, bool(question.meta.get("swapped")), speech.role,
                                speech.side, round_, candidate, attempt, *self._replica())
        sampling = Sampling(max_tokens=max_tokens, temperature=temperature, seed=seed, stop=(ARGUMENT_END,))
        return Request(role=speech.role, messages=speech.messages, sampling=sampling)

    @staticmethod
    def _continuation(opening: Request, prefix: str, max_tokens: int) -> Request:
        """The request that finishes an unfinished reply: the reply (`prefix`) goes back as the start of the
        assistant's message, which the model continues, sampled like the opening request (its seed moved on)."""
        sampling = opening.sampling
        seed = None if sampling.seed is None else request_seed(sampling.seed, "continuation")
        # the reply goes back in as text: chat-control strings in it stay inert, like every rendered message
        return Request(role=opening.role, messages=(*opening.messages, Message("assistant", prompts.inert(prefix))),
                       sampling=dataclasses.replace(sampling, max_tokens=max_tokens, seed=seed))

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


def _ran_out(reply: Reply, request: Request) -> bool:
    """Whether the reply was cut by its `max_tokens` (when the backend does not say: it used them all)."""
    if reply.finish_reason is not None:
        return reply.finish_reason == "length"
    return len(reply.token_ids) >= request.sampling.max_tokens


def _spent(reply: Reply, request: Request) -> int:
    """Generated tokens of a reply (when the backend does not count them: all it was allowed, unless it is empty)."""
    return len(reply.token_ids) if reply.token_ids or not reply.text else request.sampling.max_tokens


def _unfinished(raw: str, cut: bool, word_limit: int) -> tuple[str, bool] | None:
    """(the text a continuation of reply `raw` starts from, whether the harness opened its argument), or None
    when there is nothing to finish (see `Protocol.speak`)."""
    if _OPEN_THINKING.search(raw):
        return f"{raw.rstrip()}\n</thinking>{_OPENED}", True
    public = public_argument(raw)
    if public:
        return (raw, False) if cut and len(public.split()) < word_limit else None
    thought = _THINKING.search(raw)
    if thought:  # it thought, then wrote nothing (or an empty argument, left out)
        return raw[:thought.end()].rstrip() + _OPENED, True
    return None  # nothing written: only a new sample can help


def decision_from(reply: Reply) -> JudgeDecision:
    """Turn a choice reply into a verdict.

    Invalid: missing or non-finite probabilities, an exact tie (never broken toward a position), or a
    judge whose single most likely next token starts neither label (`Reply.top_is_option` False,
    when the backend reports it); the probabilities are kept for analysis.
    """
    probs, method = reply.option_probs, reply.decision_method
    if len(probs) != 2 or not all(math.isfinite(p) for p in probs) or sum(probs) <= 0:
        return JudgeDecision(probs=(math.nan, math.nan), verdict=None, invalid=True, mass=reply.option_mass,
                             method=method)
    total = sum(probs)
    p1, p2 = probs[0] / total, probs[1] / total
    if p1 == p2 or reply.top_is_option is False:
        return JudgeDecision(probs=(p1, p2), verdict=None, invalid=True, mass=reply.option_mass, method=method)
    return JudgeDecision(probs=(p1, p2), verdict=0 if p1 > p2 else 1, mass=reply.option_mass, method=method)


def _logit(p: float) -> float:
    p = min(max(p, _PROB_FLOOR), 1 - _PROB_FLOOR)
    return math.log(p / (1 - p))


def debiased_decision(presented: JudgeDecision, swapped: JudgeDecision) -> JudgeDecision:
    """One decision from the judge's decisions on the presented labels and on the swapped labels.

    `swapped.probs` are in the swapped view's order (its answer 1 is the presented answer 2). The result's
    P(answer 1) is the sigmoid of the mean of the two orders' log-odds for the presented answer 1, so a
    constant preference for a label position cancels (Zhao et al. 2021 calibrate the same bias away with
    a content-free input instead). It is invalid when either order's decision is, or when the mean is 0.
    """
    back = JudgeDecision(probs=(swapped.probs[1], swapped.probs[0]),
                         verdict=None if swapped.verdict is None else 1 - swapped.verdict,
                         invalid=swapped.invalid, mass=swapped.mass, method=swapped.method)
    method = "structured" if "structured" in (presented.method, back.method) else presented.method
    masses = [m for m in (presented.mass, back.mass) if m is not None]
    mass = sum(masses) / len(masses) if masses else None
    if not all(math.isfinite(p) for p in (*presented.probs, *back.probs)):
        return JudgeDecision(probs=(math.nan, math.nan), verdict=None, invalid=True, mass=mass,
                             orders=(presented, back), method=method)
    z = (_logit(presented.probs[0]) + _logit(back.probs[0])) / 2
    p1 = 1 / (1 + math.exp(-z))
    invalid = presented.invalid or back.invalid or abs(z) < 1e-9  # a tie, up to rounding: no position wins
    return JudgeDecision(probs=(p1, 1 - p1), verdict=None if invalid else (0 if z > 0 else 1), invalid=invalid,
                         mass=mass, orders=(presented, back), method=method)


def public_argument(raw: str, word_limit: int | None = None) -> str:
    """The part of an agent's output the judge may see: the <argument> body, never <thinking>.

    Without `<argument>` tags (the format not followed) the reply's text with any thinking removed is used.
    Arguments over `word_limit` words are cut there (the study's limit is 150), so a rambling agent
    cannot crowd the judge's context.
    """
    public = _THINKING.sub("", raw)  # first: an `<argument>` written inside the thinking stays private
    match = _ARGUMENT.search(public)
    text = (match.group(1) if match else public).strip()
    words = re.findall(r"\S+\s*", text)
    if word_limit is not None and len(words) > word_limit:
        text = "".join(words[:word_limit]).rstrip() + " ..."
    return text


def argument_format(raw: str) -> str:
    """`tagged` when the reply wrote its argument inside `<argument>` tags, `lenient` when its public text was
    taken without them (see `public_argument`)."""
    return "tagged" if _ARGUMENT.search(_THINKING.sub("", raw)) else "lenient"


def turn_columns(transcript: Transcript) -> dict[str, Any]:
    """Columns every protocol with agents shares: invalid, lenient, forced and retried turns, quote counts."""
    agent_turns = [t for t in transcript.turns if t.meta.get("kind") != "reasoning" and t.role != "judge"]
    quotes = sum(t.meta.get("quotes", 0) for t in agent_turns)
    verified = sum(t.meta.get("verified_quotes", 0) for t in agent_turns)
    return {"agent_turns": len(agent_turns), "invalid_turns": sum(bool(t.meta.get("invalid")) for t in agent_turns),
            "lenient_turns": sum(t.meta.get("format") == "lenient" for t in agent_turns),
            "retried_turns": sum(t.meta.get("attempts", 1) > 1 for t in agent_turns),
            "forced_turns": sum(bool(t.meta.get("forced")) for t in agent_turns),
            "quotes": quotes, "verified_quotes": verified}
