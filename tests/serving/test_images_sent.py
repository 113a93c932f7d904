"""Images leave the process: MMMU questions through the openai backend reach a local server as data URLs, in
order, between the text around them; `--serve` gives a vision model vLLM's per-request image limit."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from oversight.config import make_config
from oversight.models import parse_model_spec
from oversight.models.openai import OpenAIBackend
from oversight.models.serve import ManagedServer, backend_options, server_arguments
from oversight.prompts import attach_images
from oversight.types import Message, Request, Sampling
from tasks import load_questions
from tests.serving.fault_server import FaultServer


@pytest.fixture(scope="module")
def mmmu() -> list:
    return load_questions("mmmu")


def test_every_image_arrives_as_a_data_url_in_order_with_its_text(mmmu, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    questions = [q for q in mmmu if len(q.images) > 1][:2] + [mmmu[0]]
    requests = [Request("debater_a", attach_images((Message("system", "S"), Message("user", q.question)), q.images),
                        sampling=Sampling(max_tokens=8)) for q in questions]
    with FaultServer() as server:
        backend = OpenAIBackend("vl", base_url=server.url, vllm_extensions=False)
        try:
            backend.generate(requests)
        finally:
            backend.close()
        bodies = sorted(server.requests, key=lambda b: json.dumps(b["messages"][1]["content"]))
    by_text = {body["messages"][1]["content"][0]["text"]: body for body in bodies}
    assert len(by_text) == len(questions)
    for q in questions:
        system, user = by_text[q.question]["messages"]
        assert system == {"role": "system", "content": "S"}
        parts = user["content"]
        assert parts[0] == {"type": "text", "text": q.question}
        assert [p["text"] for p in parts[1::2]] == [f"<image {n}>" for n in range(1, len(q.images) + 1)]
        urls = [p["image_url"]["url"] for p in parts[2::2]]
        assert all(url.startswith("data:image/png;base64,") for url in urls)
        assert [base64.b64decode(url.split(",", 1)[1]) for url in urls] == [Path(p).read_bytes() for p in q.images]


def _command(spec_text: str, **config: object) -> list[str]:
    config = make_config(**{"protocol": "debate", "task": "mmmu", "serve": True, **config})
    spec = parse_model_spec(spec_text)
    kwargs, extra = server_arguments(spec, backend_options(config, "vllm"), config)
    return ManagedServer(spec.model, port=1, extra_args=extra, **kwargs).command


def test_serve_gives_a_vision_model_the_tasks_largest_image_count(mmmu) -> None:
    most = max(len(q.images) for q in mmmu)
    command = _command("vllm:Qwen/Qwen2.5-VL-3B-Instruct")
    flag = command.index("--limit-mm-per-prompt")
    assert json.loads(command[flag + 1]) == {"image": most} == {"image": 5}
    sample = load_questions("mmmu", limit=3, seed=1)
    command = _command("vllm:Qwen/Qwen2.5-VL-3B-Instruct", limit=3, seed=1)
    assert json.loads(command[command.index("--limit-mm-per-prompt") + 1]) == {"image": max(len(q.images)
                                                                                             for q in sample)}


def test_no_image_limit_for_text_models_or_text_tasks_and_the_spec_wins(mmmu) -> None:
    assert "--limit-mm-per-prompt" not in _command("vllm:Qwen/Qwen2.5-7B-Instruct")
    assert "--limit-mm-per-prompt" not in _command("vllm:Qwen/Qwen2.5-VL-3B-Instruct", task="math", limit=2)
    command = _command("vllm:Qwen/Qwen2.5-VL-3B-Instruct?limit_mm_per_prompt={image: 9}")
    assert command.count("--limit-mm-per-prompt") == 1
    assert json.loads(command[command.index("--limit-mm-per-prompt") + 1]) == {"image": 9}
    assert "--vision" not in _command("vllm:my/model?vision=true", task="math", limit=2)
