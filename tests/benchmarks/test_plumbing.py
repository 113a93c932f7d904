"""The benchmarks' plumbing on the scripted backend: counting, recording and replaying, prompt orders."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from benchmarks.common import LLMTap, replay, tap
from benchmarks.cost import count_protocol
from benchmarks.judge_prefix import neutral_prompts, usual_prompts
from benchmarks.prefix import RoleFirstDebate
from oversight.engine import Engine
from oversight.models.base import Backend
from oversight.models.scripted import ScriptedBackend
from oversight.types import Reply, Request
from protocols.base import ProtocolOptions
from protocols.debate import Debate
from tests.helpers import Recorder, make_questions


def words(request: Request) -> int:
    return sum(len(m.content.split()) for m in request.messages)


class Seen(ScriptedBackend):
    """The scripted backend, keeping every request it answered."""

    def __init__(self) -> None:
        super().__init__("echo")
        self.requests: list[Request] = []

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        self.requests += requests
        return super().generate(requests)

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        self.requests += requests
        return super().choice(requests)


def test_cost_counts_calls_requests_and_tokens_of_a_debate():
    seen = Seen()
    models: dict[str, Backend] = {"judge": seen, "debater": seen}
    counts = count_protocol("debate", models, make_questions(4), ProtocolOptions(rounds=2))
    # Per round one batched call for both debaters of all questions, then one judge call asking each decision
    # in both label orders.
    assert (counts.calls, counts.requests) == (3, 4 * (2 * 2 + 2))
    assert counts.prompt_tokens == sum(words(r) for r in seen.requests)
    agent_words = sum(len(reply.text.split()) for reply in ScriptedBackend("echo").generate(
        [r for r in seen.requests if r.kind == "generate"]))
    assert counts.completion_tokens == agent_words + 2 * 4  # one token per judge request, two per decision
    one_order = count_protocol("debate", {"judge": seen, "debater": seen}, make_questions(4),
                               ProtocolOptions(rounds=2, debias=False))
    assert (one_order.calls, one_order.requests) == (3, 4 * (2 * 2 + 1))


def test_cost_counts_both_consultancy_episodes_per_question():
    models: dict[str, Backend] = {"judge": ScriptedBackend("first"), "consultant": ScriptedBackend("echo")}
    direct = count_protocol("direct", models, make_questions(3), ProtocolOptions())
    consultancy = count_protocol("consultancy", models, make_questions(3), ProtocolOptions(rounds=1))
    assert (direct.calls, direct.requests, direct.completion_tokens) == (1, 3 * 2, 3 * 2)  # both label orders
    # Two assignments per question, each one consultant turn and one judge decision (two label orders).
    assert consultancy.requests == 3 * 2 * (1 + 2)


class FakeLLM:
    """Stands in for vllm.LLM: records what it is sent, answers with fixed-length outputs."""

    def __init__(self) -> None:
        self.sent: list[tuple[list[dict[str, Any]], Any]] = []

    def generate(self, prompts: Sequence[dict[str, Any]], params: Any, use_tqdm: bool = False) -> list[Any]:
        self.sent.append((list(prompts), params))
        return [SimpleNamespace(prompt_token_ids=p["prompt_token_ids"], num_cached_tokens=1,
                                outputs=[SimpleNamespace(token_ids=[7, 8])]) for p in prompts]

    def reset_prefix_cache(self) -> bool:
        return True


class TokenBackend(Backend):
    """A backend shaped like the vllm one: tokenises requests and sends each batch to `self.llm`."""

    name = "tokens"

    def __init__(self, llm: Any) -> None:
        super().__init__("tokens")
        self.llm = llm

    def _send(self, requests: Sequence[Request], kind: str) -> list[Reply]:
        prompts = [{"prompt_token_ids": [len(w) for m in r.messages for w in m.content.split()]} for r in requests]
        self.llm.generate(prompts, kind, use_tqdm=False)
        return ScriptedBackend("first").choice(requests) if kind == "choice" else \
            ScriptedBackend("echo").generate(requests)

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        return self._send(requests, "generate")

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        return self._send(requests, "choice")


def test_replay_sends_exactly_the_harness_batches_in_order():
    judge_llm, agent_llm = FakeLLM(), FakeLLM()
    judge, agents = TokenBackend(judge_llm), TokenBackend(agent_llm)
    log: list = []
    judge_tap, agent_tap = tap(judge, calls=log), tap(agents, calls=log)
    Engine({"judge": judge, "debater": agents}).run((q.id, Debate(rounds=2).run(q)) for q in make_questions(3))
    harness = [(llm_tap.llm, prompts, params) for llm_tap, prompts, params in log]
    assert [params for _, _, params in harness] == ["generate", "generate", "choice"]
    assert agent_tap.stats.requests == 12 and judge_tap.stats.requests == 3 * 2  # both label orders
    assert agent_tap.stats.prefill_tokens == agent_tap.stats.prompt_tokens - 12  # one cached token each

    judge_llm.sent.clear()
    agent_llm.sent.clear()
    replay(list(log))
    assert agent_llm.sent == [(prompts, params) for llm, prompts, params in harness if llm is agent_llm]
    assert judge_llm.sent == [(prompts, params) for llm, prompts, params in harness if llm is judge_llm]


def test_tap_is_installed_once_and_reset_forgets_calls():
    backend = TokenBackend(FakeLLM())
    first = tap(backend)
    assert isinstance(first, LLMTap) and tap(backend) is first
    backend.generate([Request(role="debater_a", messages=Debate().render("debate/debater", make_questions(1)[0],
                     name="Alice", opponent="Bob", position=0, round=0, rounds=1, transcript=(), names={},
                     word_limit=10, quotes=False))])
    assert first.stats.calls == 1 and len(first.calls) == 1
    first.reset()
    assert first.stats.calls == 0 and first.calls == []


def test_role_first_prompts_hold_the_same_text_with_the_instruction_first():
    question = make_questions(1)[0]
    shared, role_first = Recorder(), Recorder()  # the same replies whatever the prompt
    for protocol, backend in ((Debate(rounds=2), shared), (RoleFirstDebate(rounds=2), role_first)):
        Engine({"judge": ScriptedBackend("first"), "debater": backend}).run([("q", protocol.run(question))])
    pairs = list(zip(shared.seen, role_first.seen))
    assert len(pairs) == 4
    for usual, moved in pairs:
        name = "Alice" if usual.role == "debater_a" else "Bob"
        assert moved.messages[-1].content.startswith(f"You are {name}")
        assert usual.messages[-1].content.startswith("This is a debate")
        assert sorted(moved.messages[-1].content.split()) == sorted(usual.messages[-1].content.split())


def common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def test_neutral_judge_prompts_share_the_debate_across_orders():
    agents = ScriptedBackend("echo")
    [transcript] = Engine({"judge": ScriptedBackend("first"), "debater": agents}).run(
        [("q", Debate(rounds=2).run(make_questions(1)[0]))]).values()
    last_argument = transcript.turns[-1].text
    neutral = [m[0].content for m in neutral_prompts(transcript)]
    usual = [m[0].content for m in usual_prompts(transcript)]
    assert neutral[0] != neutral[1] and usual[0] != usual[1]
    # Both orders share everything up to and including the last argument in the neutral layout ...
    assert common_prefix(*neutral) > neutral[0].index(last_argument) + len(last_argument)
    # ... and stop sharing at the answers in the usual one.
    assert common_prefix(*usual) < usual[0].index(transcript.turns[0].text)
    assert "Bob argues for Answer 1 and Alice argues for Answer 2" in neutral[1]


def test_cpu_engine_workload_is_four_consultant_prompts_per_article():
    from benchmarks.cpu_engine import consultant_requests

    requests = consultant_requests(2, max_tokens=96)
    assert len(requests) == 8
    assert {(r.role, r.sampling.max_tokens) for r in requests} == {("consultant", 96)}
    for group in (requests[:4], requests[4:]):
        texts = [r.messages[-1].content for r in group]
        article = texts[0][texts[0].index("<article>"):texts[0].index("</article>")]
        assert len(article) > 2000 and all(article in t for t in texts)
        assert len(set(texts)) == 4  # both assignments x both answer orders
