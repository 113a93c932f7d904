"""The openai backend against a local fault-injection server: retries, backoff, timeouts, final errors,
a server that dies mid-run, bounded concurrency, stop sequences, and judge decisions from logprobs, or
from structured output only when asked for."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oversight.errors import BackendError, ConfigError
from oversight.models import load_backend, parse_model_spec
from oversight.models.openai import (
    NoLogprobsError,
    OpenAIBackend,
    PartialBatchError,
    backoff_delay,
    retry_after_seconds,
)
from oversight.types import Message, Request, Sampling
from tests.serving.fault_server import FaultServer, judge_p1

QUESTION = (Message("user", "Which is larger? Answer 1: 7. Answer 2: 3."), Message("assistant", "Answer:"))


def gen(i: int = 0) -> Request:
    return Request("debater_a", (Message("user", f"Argue for answer {i}."),), sampling=Sampling(max_tokens=32))


def judge(i: int = 0) -> Request:
    return Request("judge", (Message("user", f"Question {i}: which answer?"), Message("assistant", "Answer:")),
                   kind="choice", options=("1", "2"))


def backend(server: FaultServer, **options) -> OpenAIBackend:
    options = {"backoff": 0.01, "max_attempts": 4, "timeout": 5.0, **options}
    return OpenAIBackend("fake-model", base_url=server.url, **options)


@pytest.fixture
def close_later():
    made: list[OpenAIBackend] = []
    yield made.append
    for b in made:
        b.close()


def test_transient_failures_are_retried_until_a_reply(close_later):
    with FaultServer(["500", "garbage", "503", "ok"]) as server:
        b = backend(server)
        close_later(b)
        [reply] = b.generate([gen()])
    assert reply.text.startswith("<argument>") and len(reply.logprobs) == len(reply.token_ids) > 0
    assert [action for _, action in server.events] == ["500", "garbage", "503", "ok"]
    assert b.attempts == 4


def test_retry_after_is_honoured(close_later):
    with FaultServer(["429", "ok"], retry_after="1") as server:
        b = backend(server)
        close_later(b)
        b.generate([gen()])
    assert server.gaps()[0] >= 0.95  # waited what the server asked, not the 10 ms backoff


def test_backoff_grows_exponentially_with_jitter(close_later):
    with FaultServer(["500", "500", "500", "ok"]) as server:
        b = backend(server, backoff=0.2, backoff_max=10)
        close_later(b)
        b.generate([gen()])
    gaps = server.gaps()
    # Waits are drawn from the upper half of 0.2, 0.4, 0.8 s.
    for gap, ceiling in zip(gaps, (0.2, 0.4, 0.8)):
        assert ceiling / 2 - 0.02 <= gap <= ceiling + 0.2


def test_backoff_delay_policy():
    assert backoff_delay(3, base=1.0, cap=60, retry_after=7.5) == 7.5
    draws = [backoff_delay(4, base=1.0, cap=5.0) for _ in range(200)]
    assert all(2.5 <= d <= 5.0 for d in draws) and max(draws) - min(draws) > 0.5  # capped, and jittered


def test_retry_after_header_forms():
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    assert 58 <= retry_after_seconds({"retry-after": time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                                                   time.gmtime(time.time() + 60))}) <= 61
    assert retry_after_seconds({}) is None


def test_a_hanging_request_times_out_and_is_retried(close_later):
    with FaultServer(["hang", "ok"], hang_seconds=3) as server:
        b = backend(server, timeout=0.5)
        close_later(b)
        start = time.monotonic()
        [reply] = b.generate([gen()])
        elapsed = time.monotonic() - start
    assert reply.text and 0.5 <= elapsed < 2.5


def test_final_failure_names_server_status_and_fix(close_later):
    with FaultServer(default="500") as server:
        b = backend(server, max_attempts=3)
        close_later(b)
        with pytest.raises(BackendError) as info:
            b.generate([gen()])
    message = str(info.value)
    assert server.url in message and "HTTP 500" in message and "after 3 attempts" in message
    assert "Fix:" in message and "rerun the same command" in message
    assert len(server.requests) == 3


def test_client_errors_are_not_retried(close_later):
    with FaultServer(default="404") as server:
        b = backend(server)
        close_later(b)
        with pytest.raises(BackendError, match="not retried.*HTTP 404.*check the model name"):
            b.generate([gen()])
    assert len(server.requests) == 1


def test_timeouts_exhausted_give_a_clear_error(close_later):
    with FaultServer(default="hang", hang_seconds=2) as server:
        b = backend(server, timeout=0.3, max_attempts=2)
        close_later(b)
        with pytest.raises(BackendError, match=r"no reply within 0.3 s"):
            b.generate([gen()])


def test_unreachable_server_is_a_connection_error(close_later):
    with FaultServer() as server:
        url = server.url
    b = OpenAIBackend("fake-model", base_url=url, backoff=0.01, max_attempts=2, vllm_extensions=False)
    close_later(b)
    with pytest.raises(BackendError, match="connection failed") as info:
        b.generate([gen()])
    assert "went down" not in str(info.value)  # never up: the plain "check that the server is up" advice


def test_a_server_that_dies_with_a_500_is_named_with_the_cpu_fix(close_later):
    # A vLLM CPU engine killed by chunked prefill of a seeded request: one 500, then the port is closed.
    with FaultServer(["crash"]) as server:
        b = backend(server)
        close_later(b)
        with pytest.raises(BackendError) as info:
            b.generate([gen()])
    message = str(info.value)
    assert [action for _, action in server.events] == ["crash"]  # every later attempt found nobody listening
    assert b.attempts == 4
    assert f"server at {server.url} (model 'fake-model') went down during the run" in message
    assert "HTTP 500" in message and "connection failed" in message and "after 4 attempts" in message
    assert "--no-enable-chunked-prefill --max-num-batched-tokens N" in message and "--max-model-len" in message
    assert "rerun the same command" in message and "resumes" in message


def test_a_server_dying_mid_batch_keeps_the_replies_and_says_it_went_down(close_later):
    with FaultServer(["ok", "ok", "crash"]) as server:
        b = backend(server, max_connections=1, max_attempts=2)
        close_later(b)
        with pytest.raises(PartialBatchError) as info:
            b.generate([gen(i) for i in range(4)])
    assert sorted(info.value.partial) == [0, 1]
    message = str(info.value)
    assert "went down during the run: it answered HTTP 500" in message and "2 of 4 requests" in message
    assert "--no-enable-chunked-prefill" in message


def test_a_server_that_stops_answering_after_replies_went_down_too(close_later):
    with FaultServer(die_after=1) as server:  # answers once, then closes every connection unanswered
        b = backend(server, max_attempts=2)
        close_later(b)
        b.generate([gen(0)])
        with pytest.raises(BackendError, match=r"went down during the run: it answered earlier requests, then "
                                               r"connection failed .* after 2 attempts.*rerun the same command"):
            b.generate([gen(1)])


def test_a_failed_batch_keeps_the_replies_that_arrived(close_later):
    with FaultServer(default="ok", die_after=2) as server:
        b = backend(server, max_connections=1, max_attempts=2)
        close_later(b)
        with pytest.raises(PartialBatchError) as info:
            b.generate([gen(i) for i in range(4)])
    assert sorted(info.value.partial) == [0, 1]  # one connection at a time: the first two got through
    assert "2 of 4 requests" in str(info.value)


def test_concurrency_is_bounded_by_max_connections(close_later):
    with FaultServer(delay=0.2) as server:
        b = backend(server, max_connections=3)
        close_later(b)
        start = time.monotonic()
        replies = b.generate([gen(i) for i in range(9)])
        elapsed = time.monotonic() - start
    assert len(replies) == 9 and server.max_in_flight == 3
    assert elapsed >= 0.55  # 9 requests, 3 at a time, 0.2 s each


def test_replies_come_back_in_request_order(close_later):
    with FaultServer(delay=0.05) as server:
        b = backend(server, max_connections=8)
        close_later(b)
        batch = [gen(i) for i in range(8)]
        together = b.generate(batch)
        one_by_one = [b.generate([r])[0] for r in batch]
    assert [r.text for r in together] == [r.text for r in one_by_one]
    assert len({r.text for r in together}) == 8


def test_stop_sequences_are_sent_with_generation_requests(close_later):
    with FaultServer() as server:
        b = backend(server)
        close_later(b)
        plain = gen(0)
        stopped = Request("debater_a", plain.messages, sampling=Sampling(max_tokens=32, stop=("</argument>", "note")))
        [full, cut] = b.generate([plain, stopped])
        [short] = b.generate([Request("debater_a", plain.messages, sampling=Sampling(max_tokens=2))])
    assert sorted(str(body.get("stop")) for body in server.requests) == ["None", "None", "['</argument>', 'note']"]
    assert full.text.endswith("</argument>")
    assert cut.text == full.text.split("note")[0].strip() == "<argument>My side is right ("  # cut before "note"
    assert full.finish_reason == cut.finish_reason == "stop"
    assert short.text == "<argument>My side" and short.finish_reason == "length"  # the server's own reason


def test_choice_from_logprobs_adds_the_space_path(close_later):
    with FaultServer() as server:
        b = backend(server)
        close_later(b)
        replies = b.choice([judge(i) for i in range(5)])
        bodies = [r for r in server.requests if r.get("top_logprobs")]
    assert len(bodies) == 5
    bodies.sort(key=lambda body: body["messages"][0]["content"])  # they arrive concurrently, in any order
    for reply, body in zip(replies, bodies):
        p1 = judge_p1(body)
        # direct: 0.05 each; after the space (0.9): p1 and 1 - p1
        expected = (0.05 + 0.9 * p1) / (0.1 + 0.9)
        assert math.isclose(reply.option_probs[0], expected, rel_tol=1e-9)
        assert math.isclose(sum(reply.option_probs), 1.0) and math.isclose(reply.option_mass, 1.0)
        assert reply.top_is_option is True and reply.decision_method == "logprobs"
    # The trailing "Answer:" is continued, not closed, and the request is greedy, 2 tokens, top-20.
    assert bodies[0]["continue_final_message"] is True and bodies[0]["add_generation_prompt"] is False
    assert bodies[0]["max_tokens"] == 2 and bodies[0]["top_logprobs"] == 20 and bodies[0]["temperature"] == 0


@pytest.mark.parametrize("method", ["auto", "logprobs"])
def test_a_server_without_logprobs_is_refused_not_read_from_text(close_later, method):
    with FaultServer(logprobs=False) as server:
        b = load_backend(parse_model_spec(f"openai:fake-model?base_url={server.url}&choice_method={method}"))
        close_later(b)
        with pytest.raises(NoLogprobsError) as info:
            b.choice([judge(i) for i in range(3)])
    message = str(info.value)
    assert server.url in message and "'fake-model'" in message and "returned no logprobs" in message
    assert "openai:fake-model?choice_method=structured" in message and "decision_method=structured" in message
    assert not any("structured_outputs" in r or "guided_choice" in r for r in server.requests)
    assert len(server.requests) == 3  # one try each: a setting to change, not a fault to retry


@pytest.mark.parametrize("method, field, value", [("structured", "structured_outputs", {"choice": ["1", "2"]}),
                                                  ("guided", "guided_choice", ["1", "2"])])
def test_structured_decisions_when_asked_for_are_marked_as_such(close_later, method, field, value):
    with FaultServer(logprobs=False) as server:
        b = backend(server, choice_method=method)
        close_later(b)
        replies = b.choice([judge(i) for i in range(3)])
    assert all(field in r for r in server.requests) and len(server.requests) == 3  # no logprobs attempt first
    structured = sorted(server.requests, key=lambda body: body["messages"][0]["content"])
    assert structured[0][field] == value
    assert structured[0]["messages"][-1]["role"] == "user"  # the prefilled "Answer:" is dropped
    for reply, body in zip(replies, structured):
        winner = 0 if judge_p1(body) > 0.5 else 1
        assert reply.option_probs == tuple(1.0 if i == winner else 0.0 for i in range(2))
        assert reply.option_mass is None and reply.decision_method == "structured"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oversight.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300)


def test_the_cli_refuses_a_judge_without_logprobs_and_runs_it_when_asked(tmp_path: Path):
    run = ["run", "direct", "--task", "math", "--limit", "2", "--out", str(tmp_path)]
    with FaultServer(logprobs=False) as server:
        refused = cli(*run, "--judge", "openai:fake-model", "--base-url", server.url)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert "returned no logprobs" in refused.stderr and "choice_method=structured" in refused.stderr
        asked = cli(*run, "--judge", "openai:fake-model?choice_method=structured", "--base-url", server.url)
    assert asked.returncode == 0, asked.stderr
    [folder] = [p for p in tmp_path.iterdir() if (p / "transcripts.jsonl").exists()]
    records = [json.loads(line) for line in (folder / "transcripts.jsonl").read_text().splitlines()]
    assert records and all(r["transcript"]["decision"]["method"] == "structured" for r in records)


def test_the_cli_names_a_server_that_went_down_and_the_fix(tmp_path: Path):
    with FaultServer(["crash"]) as server:
        result = cli("run", "direct", "--task", "math", "--limit", "2", "--out", str(tmp_path),
                     "--judge", "openai:fake-model?backoff=0.2&max_attempts=3", "--base-url", server.url)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    text = " ".join(result.stderr.split())  # the console wraps long lines
    assert "went down during the run" in text and "HTTP 500" in text
    assert "--no-enable-chunked-prefill --max-num-batched-tokens N" in text and "rerun the same command" in text


def test_hosted_apis_get_no_vllm_extensions(close_later):
    with FaultServer(vllm=False) as server:
        b = backend(server)
        close_later(b)
        b.generate([gen()])
        b.choice([judge()])
    assert not any("continue_final_message" in r or "return_token_ids" in r for r in server.requests)


def test_spec_options_reach_the_backend_and_typos_are_config_errors():
    with FaultServer() as server:
        spec = parse_model_spec(f"openai:fake-model?base_url={server.url}&max_connections=2&timeout=1.5")
        b = load_backend(spec)
        try:
            assert (b.base_url, b.max_connections, b.timeout) == (server.url, 2, 1.5)
        finally:
            b.close()
        with pytest.raises(ConfigError, match="max_conections"):
            load_backend(parse_model_spec(f"openai:fake-model?base_url={server.url}&max_conections=2"))


def test_missing_api_key_for_the_openai_api_is_a_config_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIBackend("gpt-4o-mini")
