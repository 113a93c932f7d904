"""Model specs: `backend:model`, embedded names under any backend, HF ids and paths."""

from __future__ import annotations

import pytest

from oversight.errors import ConfigError
from oversight.models import ModelSpec, parse_model_spec


@pytest.mark.parametrize("spec, expected", [
    ("embedded:smollm2-135m", ModelSpec("hf", "embedded:smollm2-135m")),
    ("smollm2-135m", ModelSpec("hf", "embedded:smollm2-135m")),
    ("vllm:embedded:qwen2.5-coder-0.5b", ModelSpec("vllm", "embedded:qwen2.5-coder-0.5b")),
    ("vllm:Qwen/Qwen2.5-7B-Instruct", ModelSpec("vllm", "Qwen/Qwen2.5-7B-Instruct")),
    ("Qwen/Qwen2.5-7B-Instruct", ModelSpec("hf", "Qwen/Qwen2.5-7B-Instruct")),
    ("/models/my-judge", ModelSpec("hf", "/models/my-judge")),
    ("scripted:first", ModelSpec("scripted", "first")),
])
def test_specs_resolve_to_a_backend_and_model(spec, expected):
    assert parse_model_spec(spec, backend="hf") == expected


@pytest.mark.parametrize("spec, message", [
    ("", "empty"),
    ("vllm:", "names no model"),
    ("magic:model", "unknown backend 'magic'"),
    ("embedded:gpt-9", "unknown embedded model 'gpt-9'"),
    ("hf:embedded:gpt-9", "unknown embedded model 'gpt-9'"),
    ("scripted:embedded:smollm2-135m", "needs a real backend"),
])
def test_bad_specs_name_the_problem(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_model_spec(spec, backend="hf")
