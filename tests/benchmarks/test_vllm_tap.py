"""The tap on a real vLLM engine: it records the harness's exact prompts and sees prefix-cache hits."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from benchmarks.common import replay, tap
from oversight.engine import Engine
from oversight.models.base import Backend
from oversight.models.choice import encode_prompt
from oversight.types import Reply, Request
from protocols.debate import Debate
from tests.helpers import make_questions


class Capture(Backend):
    """Passes calls through, keeping the requests of each generate call."""

    def __init__(self, inner: Backend) -> None:
        super().__init__(inner.model)
        self.inner, self.batches = inner, []

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        self.batches.append(list(requests))
        return self.inner.generate(requests)

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        return self.inner.choice(requests)


@pytest.mark.slow
def test_tap_records_the_harness_prompts_and_prefix_hits(vllm_judge):
    meter = tap(vllm_judge)
    try:
        meter.reset()
        capture = Capture(vllm_judge)
        Engine({"judge": vllm_judge, "debater": capture}).run(
            (q.id, Debate(rounds=2, max_tokens=8, thinking_tokens=8).run(q)) for q in make_questions(2))  # a request a turn
        assert len(meter.calls) == 3  # round 1, round 2, judge
        for (_, prompts, _), requests in zip(meter.calls[:2], capture.batches):
            assert [p["prompt_token_ids"] for p in prompts] == [encode_prompt(vllm_judge.tokenizer, r.messages)
                                                              for r in requests]
        # Round 2 prompts begin with round 1's (shared-first layout): vLLM reuses those blocks.
        assert 0 < meter.stats.cached_tokens < meter.stats.prompt_tokens
        calls = list(meter.calls)
        meter.reset()
        meter.record = False
        replay(calls)
        assert meter.calls == [] and meter.stats.calls == 0  # replay bypasses the tap's counters
    finally:
        vllm_judge.llm = meter.llm
