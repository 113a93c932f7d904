"""The response cache: keys, replays, best-of-N sample indices, partial batches, and `oversight cache`."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from typer.testing import CliRunner

from oversight.cache import CACHE_FILE, CachedBackend, ResponseCache, request_keys
from oversight.cli import app
from oversight.errors import BackendError, DataError
from oversight.models.base import Backend
from oversight.models.scripted import ScriptedBackend
from oversight.types import Message, Reply, Request, Sampling


def gen(text: str = "argue", temperature: float = 0.0, seed: int | None = None, max_tokens: int = 16) -> Request:
    return Request("debater_a", (Message("user", text),),
                   sampling=Sampling(max_tokens=max_tokens, temperature=temperature, seed=seed))


def judge(text: str = "decide") -> Request:
    return Request("judge", (Message("user", text), Message("assistant", "Answer:")), kind="choice",
                   options=("1", "2"))


class Sampler(Backend):
    """Answers each call with fresh numbered replies, so repeated work is visible."""

    name = "sampler"

    def __init__(self) -> None:
        super().__init__("m")
        self.batches: list[int] = []

    def generate(self, requests: Sequence[Request]) -> list[Reply]:
        self.batches.append(len(requests))
        start = sum(self.batches[:-1])
        return [Reply(text=f"sample {start + i}", token_ids=(start + i,), logprobs=(math.log(0.3),))
                for i in range(len(requests))]

    def choice(self, requests: Sequence[Request]) -> list[Reply]:
        self.batches.append(len(requests))
        return [Reply(option_probs=(1 / 3, 2 / 3), option_mass=0.123456789, top_is_option=True) for _ in requests]


@pytest.fixture
def cache(tmp_path):
    c = ResponseCache(tmp_path / CACHE_FILE)
    yield c
    c.close()


def test_keys_separate_what_changes_a_reply():
    base = request_keys("vllm", "m", [gen()])[0]
    variants = [request_keys("hf", "m", [gen()]), request_keys("vllm", "other", [gen()]),
                request_keys("vllm", "m", [gen("argue!")]), request_keys("vllm", "m", [gen(max_tokens=17)]),
                request_keys("vllm", "m", [gen(temperature=0.7)]), request_keys("vllm", "m", [gen(temperature=0.7, seed=1)]),
                request_keys("vllm", "m", [judge("argue")])]
    assert len({base, *(v[0] for v in variants)}) == 1 + len(variants)
    with_image = Request("judge", (Message("user", "argue", images=("a.png",)),), sampling=gen().sampling)
    assert request_keys("vllm", "m", [with_image])[0] != base


def test_identical_sampled_requests_are_numbered_greedy_ones_share():
    sampled = request_keys("vllm", "m", [gen(temperature=0.8, seed=3)] * 3)
    assert len(set(sampled)) == 3
    # the same batch again (a resumed run) gives the same keys, in the same order
    assert request_keys("vllm", "m", [gen(temperature=0.8, seed=3)] * 3) == sampled
    # position counts among identical requests only: other requests in between do not shift it
    mixed = request_keys("vllm", "m", [gen(temperature=0.8, seed=3), gen("x"), gen(temperature=0.8, seed=3)])
    assert [mixed[0], mixed[2]] == sampled[:2]
    assert len(set(request_keys("vllm", "m", [gen()] * 3))) == 1
    assert len(set(request_keys("vllm", "m", [judge()] * 3))) == 1


def test_second_call_is_answered_from_the_cache_exactly(cache):
    inner = Sampler()
    cached = CachedBackend(inner, cache)
    batch = [gen("a"), gen("b")]
    first = cached.generate(batch) + cached.choice([judge()])
    again = CachedBackend(Sampler(), ResponseCache(cache.path))  # a new process: a new backend, same file
    second = again.generate(batch) + again.choice([judge()])
    assert second == first  # floats, token ids and flags round-trip exactly
    assert again.inner.batches == [] and (again.hits, again.misses) == (3, 0)
    assert (cached.name, cached.model) == ("sampler", "m")


def test_best_of_n_candidates_stay_distinct(cache):
    inner = Sampler()
    cached = CachedBackend(inner, cache)
    candidates = cached.generate([gen(temperature=0.8, seed=0)] * 4)
    assert len({r.text for r in candidates}) == 4 and inner.batches == [4]
    assert cached.generate([gen(temperature=0.8, seed=0)] * 4) == candidates and inner.batches == [4]
    # one more candidate than before: only the new one is sampled
    assert cached.generate([gen(temperature=0.8, seed=0)] * 5)[:4] == candidates and inner.batches == [4, 1]


def test_identical_greedy_requests_are_computed_once(cache):
    inner = Sampler()
    replies = CachedBackend(inner, cache).generate([gen("same")] * 3 + [gen("other")])
    assert inner.batches == [2] and replies[0] == replies[1] == replies[2] != replies[3]


class FailsHalfway(Sampler):
    def generate(self, requests):
        replies = super().generate(requests)
        error = BackendError("server died")
        error.partial = {0: replies[0]}
        raise error


def test_replies_of_a_failed_batch_are_kept(cache):
    with pytest.raises(BackendError, match="server died"):
        CachedBackend(FailsHalfway(), cache).generate([gen("a"), gen("b")])
    inner = Sampler()
    CachedBackend(inner, cache).generate([gen("a"), gen("b")])
    assert inner.batches == [1]  # only "b" was redone


def test_scripted_replies_are_unchanged_by_the_cache(cache):
    batch = [gen("a"), judge("b")]
    plain = ScriptedBackend("echo")
    cached = CachedBackend(ScriptedBackend("echo"), cache)
    assert cached.generate(batch[:1]) == plain.generate(batch[:1])
    assert cached.choice(batch[1:]) == plain.choice(batch[1:])


def test_a_corrupt_cache_file_is_a_data_error(tmp_path):
    path = tmp_path / CACHE_FILE
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DataError, match="oversight cache clear"):
        ResponseCache(path)


def test_cache_info_and_clear_commands(tmp_path):
    run = tmp_path / "runs" / "debate-math-1234"
    cache = ResponseCache(run / CACHE_FILE)
    CachedBackend(Sampler(), cache).generate([gen("a"), gen("b")])
    cache.close()
    (run / "transcripts.jsonl").write_text("{}\n")
    runner = CliRunner()
    info = runner.invoke(app, ["cache", "info", str(tmp_path / "runs")])
    assert info.exit_code == 0 and "sampler:m" in info.output and "generate" in info.output and " 2 " in info.output
    refused = runner.invoke(app, ["cache", "clear", str(run)], input="n\n")
    assert refused.exit_code == 1 and (run / CACHE_FILE).exists()
    cleared = runner.invoke(app, ["cache", "clear", str(run), "--yes"])
    assert cleared.exit_code == 0 and not (run / CACHE_FILE).exists()
    assert (run / "transcripts.jsonl").exists()  # results are never touched
    assert "no response caches" in runner.invoke(app, ["cache", "info", str(tmp_path / "runs")]).output
